"""Is the new instance up? An HTTP probe until it answers, or it dies, or time runs out."""

import time
from collections.abc import Callable

import requests

from deployments.errors import UserError
from deployments.runtime import InstanceState

# Between probes: short, since every deployment waits here and a refused probe costs little.
PROBE_INTERVAL = 0.05


class AppCrashed(UserError):
    pass


class HealthTimedOut(UserError):
    pass


def wait(url: str, port: int, timeout: float, state: Callable[[], InstanceState]) -> float:
    """Return the seconds it took the app to answer; raise a UserError otherwise."""
    started = time.monotonic()
    deadline = started + timeout
    last_status = None
    while True:
        current = state()
        if not current.running:
            raise AppCrashed(f"The app {current.describe()} before it answered HTTP on port {port}.")
        try:
            response = requests.get(url, timeout=2, allow_redirects=False)
            if response.status_code < 500:
                return time.monotonic() - started
            last_status = response.status_code
        except requests.RequestException:
            pass
        if time.monotonic() >= deadline:
            if last_status:
                raise HealthTimedOut(
                    f"The app answered HTTP {last_status} on port {port} for {int(timeout)} s; "
                    "it must answer with a status below 500 to count as up."
                )
            raise HealthTimedOut(
                f"The app did not answer HTTP on port {port} within {int(timeout)} s. It must "
                "listen on 0.0.0.0 at the port given in the PORT variable."
            )
        time.sleep(PROBE_INTERVAL)
