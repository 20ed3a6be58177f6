"""The reverse proxy in front of every service.

This package is the only code that knows which proxy it is: nginx serves the
services' plain-HTTP addresses (the fast path, straight to each container's
address on its network), and Caddy serves custom domains over HTTPS, for its
automatic certificates. Callers describe what should be served (a list of
Site) and apply() loads it into both.
"""

import subprocess
from pathlib import Path

from django.conf import settings

from ingress.proxy import caddy, nginx
from ingress.proxy.site import Site

__all__ = ["Proxies", "Site", "access_log_paths", "apply", "launch", "ping", "root_certificate"]


def state_dir() -> Path:
    return Path(settings.INGRESS_STATE_DIR)


def access_log_paths(key: str) -> list[Path]:
    """The files of a service's requests: plain HTTP, then HTTPS."""
    return [state_dir() / "access" / f"{key}.log", state_dir() / "access" / f"{key}.https.log"]


def root_certificate() -> Path:
    """The local CA that signs certificates of `.localhost` names (and all, with the internal issuer)."""
    return state_dir() / "storage" / "pki" / "authorities" / "local" / "root.crt"


def apply(sites: list[Site], *, draining: bool = False) -> None:
    """Replace the whole configuration, live when this returns; PlatformError when a proxy refuses or is away.

    nginx first: it checks a configuration before taking it, so a refused one changes nothing.
    `draining`: the caller keeps the upstreams it replaces serving for a while, so it
    is enough that the new configuration serves; the old one may still take a new
    request for its last ~100 ms (the time nginx gives new workers to start).
    """
    state = state_dir()
    nginx.apply(state, sites, lambda site: access_log_paths(site.key)[0], draining=draining)
    caddy.apply(state, sites, lambda site: access_log_paths(site.key)[1])


def ping() -> bool:
    return nginx.ping() and caddy.ping()


class Proxies:
    """Both proxies started by launch(), stopped together."""

    def __init__(self, *processes: subprocess.Popen) -> None:
        self.processes = processes

    def poll(self) -> int | None:
        """None while all run; the exit code of one that stopped otherwise."""
        codes = [process.poll() for process in self.processes]
        return next((code for code in codes if code is not None), None)

    def terminate(self) -> None:
        for process in self.processes:
            process.terminate()  # nginx stops at once on SIGTERM, Caddy after its grace period

    def kill(self) -> None:
        for process in self.processes:
            process.kill()

    def wait(self, timeout: float | None = None) -> None:
        for process in self.processes:
            process.wait(timeout=timeout)


def launch(state: Path, admin_address: str, log_path: Path) -> Proxies:
    """Start proxies of our own (tests, benchmarks): Caddy's admin API on admin_address, files in state.

    The settings must already name the ports (INGRESS_HTTP_PORT, INGRESS_CONTROL_ADDRESS, ...).
    """
    state.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return Proxies(nginx.launch(state, out), caddy.launch(state, admin_address, out))
