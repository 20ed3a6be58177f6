"""Is an instance up? HTTP probes: until it answers while it starts, one at a time afterwards.

A service says what counts as up: its path, the statuses expected (`200-499` by
default: anything but a server error, as before there was a setting; Render's
rule, 2xx and 3xx, is `200-399`), and how long one probe may take. Redirects are
not followed: a 302 is the answer.
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from deployments.errors import UserError
from deployments.runtime import InstanceState

# Between probes: short, since every deployment waits here and a refused probe costs little.
PROBE_INTERVAL = 0.05
DEFAULT_STATUS = "200-499"
MAX_TIMEOUT = 60  # seconds one probe may take, at most (a service's timeout is bounded by it)
_PART = re.compile(r"^([1-5])xx$|^(\d{3})(?:-(\d{3}))?$")


class AppCrashed(UserError):
    pass


class HealthTimedOut(UserError):
    pass


class InvalidStatus(ValueError):
    pass


def parse_status(text: str) -> list[tuple[int, int]]:
    """ "200", "200-399", "2xx,301" -> ranges of codes; InvalidStatus on anything else."""
    parts = [part.strip().lower() for part in text.split(",")]
    if not text.strip() or len(parts) > 10:
        raise InvalidStatus("at most 10 codes or ranges, separated by commas")
    ranges = []
    for part in parts:
        match = _PART.match(part)
        if not match:
            raise InvalidStatus(
                f"{part[:20]!r} is not a status code (200), a range (200-399) or a class (2xx)"
            )
        if match.group(1):
            low = int(match.group(1)) * 100
            ranges.append((low, low + 99))
            continue
        low = int(match.group(2))
        high = int(match.group(3) or low)
        if not 100 <= low <= high <= 599:
            raise InvalidStatus(f"{part} is not a range of codes between 100 and 599")
        ranges.append((low, high))
    return ranges


def expected(status: int, spec: str) -> bool:
    try:
        ranges = parse_status(spec)
    except InvalidStatus:
        ranges = parse_status(DEFAULT_STATUS)
    return any(low <= status <= high for low, high in ranges)


@dataclass(frozen=True)
class Probe:
    ok: bool
    status: int | None  # None: no HTTP answer at all
    problem: str = ""  # what went wrong, for a person


def probe(url: str, timeout: float, spec: str = DEFAULT_STATUS) -> Probe:
    """One GET; never raises."""
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=False)
        response.close()
    except requests.Timeout:
        return Probe(False, None, f"no answer within {timeout:g} s")
    except requests.RequestException:
        return Probe(False, None, "the connection was refused or dropped")
    if expected(response.status_code, spec):
        return Probe(True, response.status_code)
    return Probe(False, response.status_code, f"HTTP {response.status_code}, expected {spec}")


def wait(
    url: str,
    port: int,
    timeout: float,
    state: Callable[[], InstanceState],
    *,
    spec: str = DEFAULT_STATUS,
    probe_timeout: float = 2,
) -> float:
    """Return the seconds it took the app to answer as expected; raise a UserError otherwise."""
    started = time.monotonic()
    deadline = started + timeout
    last_status = None
    while True:
        current = state()
        if not current.running:
            raise AppCrashed(f"The app {current.describe()} before it answered HTTP on port {port}.")
        result = probe(url, probe_timeout, spec)
        if result.ok:
            return time.monotonic() - started
        last_status = result.status or last_status
        if time.monotonic() >= deadline:
            if last_status:
                raise HealthTimedOut(
                    f"The app answered HTTP {last_status} on port {port} for {int(timeout)} s; "
                    f"its health check expects {_spoken(spec)} to count as up."
                )
            raise HealthTimedOut(
                f"The app did not answer HTTP on port {port} within {int(timeout)} s. It must "
                "listen on 0.0.0.0 at the port given in the PORT variable."
            )
        time.sleep(PROBE_INTERVAL)


def _spoken(spec: str) -> str:
    return "a status below 500" if spec == DEFAULT_STATUS else f"HTTP {spec}"
