"""A repository's own settings: the `m3o.toml` in the service's folder, read at each deployment.

Like Railway's railway.toml, Fly's fly.toml checks and Dokku's app.json healthchecks,
the repository can say how its app is checked, so the check travels with the code:

    [healthcheck]
    path = "/healthz"
    status = "200-299"
    interval = 10
    timeout = 5
    start_period = 0
    threshold = 3
    grace_period = 30

Every key is optional; a key given wins over the service's setting of the same
meaning for that deployment, the rest come from the service. What the commit said
is kept on its deployment, so a rollback to it checks the app as that commit asked.
The values are checked by the settings' own rules (service_settings); a file the
platform cannot take (not TOML, a key it does not know, a value out of bounds, a
link, too large) fails the deployment before it builds, as the user's error.
"""

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from deployments import health, service_settings, tree
from deployments.actions import ActionError
from deployments.errors import UserError
from deployments.models import Deployment, Service

NAME = "m3o.toml"
MAX_SIZE = 64 * 1024
TABLE = "healthcheck"

# m3o.toml's key -> the service's setting it stands in for.
FIELDS = {
    "path": "health_check_path",
    "status": "health_check_status",
    "interval": "health_check_interval",
    "timeout": "health_check_timeout",
    "start_period": "health_check_start_period",
    "threshold": "health_check_threshold",
    "grace_period": "stop_grace_period",
}
KEYS = ", ".join(FIELDS)


class InvalidConfig(UserError):
    pass


@dataclass(frozen=True)
class HealthCheck:
    """The health check a deployment's instances get: the repository's values, else the service's."""

    path: str
    status: str
    interval: int
    timeout: int
    start_period: int
    threshold: int
    grace_period: int  # seconds from SIGTERM to SIGKILL
    from_repository: tuple[str, ...] = ()  # the m3o.toml keys that set these

    def describe(self) -> str:
        return (
            f"GET {self.path} expects {self.status}, every {self.interval} s (timeout {self.timeout} s), "
            f"{self.threshold} failed in a row take an instance out, start period {self.start_period} s, "
            f"grace period {self.grace_period} s"
        )


def health_check(deployment: Deployment) -> HealthCheck:
    """The effective health check of a deployment: what the pipeline and the monitor use."""
    return _combine(deployment.service, deployment.repository_health_check or {})


def _combine(service: Service, repository: dict) -> HealthCheck:
    values = {key: repository.get(key, getattr(service, field)) for key, field in FIELDS.items()}
    if values["grace_period"] is None:
        values["grace_period"] = settings.STOP_TIMEOUT
    values["path"] = values["path"] or "/"
    values["status"] = values["status"] or health.DEFAULT_STATUS
    return HealthCheck(**values, from_repository=tuple(key for key in FIELDS if key in repository))


def current(service: Service) -> HealthCheck:
    """The check the service's instances get now: its live deployment's, else its settings'."""
    live = service.live_deployment
    return _combine(service, (live.repository_health_check if live else None) or {})


def grace_period(service: Service, deployment_id: int) -> int:
    """Seconds between SIGTERM and SIGKILL for the deployment's instances."""
    repository = (
        Deployment.objects.filter(pk=deployment_id).values_list("repository_health_check", flat=True).first()
    )
    return _combine(service, repository or {}).grace_period


def from_repository(service: Service) -> dict[str, object]:
    """{setting: value} of the settings the live deployment's m3o.toml decides, for the
    settings page and the API: changing those on the service has no effect while it does."""
    live = service.live_deployment
    repository = (live.repository_health_check if live else None) or {}
    return {FIELDS[key]: value for key, value in repository.items() if key in FIELDS}


def read(deployment: Deployment, folder: Path, write: Callable[[str], None]) -> None:
    """Read the folder's m3o.toml onto the deployment (or refuse it) and say what it sets."""
    found = load(folder)
    Deployment.objects.filter(pk=deployment.pk).update(repository_health_check=found)
    deployment.repository_health_check = found
    if found:
        _announce(deployment, write)


def copy(earlier: Deployment, deployment: Deployment, write: Callable[[str], None]) -> None:
    """A rollback, start or promotion runs an earlier commit: its m3o.toml's check comes along."""
    found = earlier.repository_health_check or {}
    Deployment.objects.filter(pk=deployment.pk).update(repository_health_check=found)
    deployment.repository_health_check = found
    if found:
        _announce(deployment, write)


def _announce(deployment: Deployment, write: Callable[[str], None]) -> None:
    check = health_check(deployment)
    rest = "" if len(check.from_repository) == len(FIELDS) else "; the rest from the service's settings"
    write(
        f"==> Health check from {NAME}: {check.describe()} "
        f"({', '.join(check.from_repository)} from {NAME}{rest})"
    )


def load(folder: Path) -> dict[str, object]:
    """The checked [healthcheck] values of the folder's m3o.toml; {} without one."""
    try:
        if (folder / NAME).is_symlink():
            raise InvalidConfig(
                f"{NAME} is a symbolic link. The platform reads it only as a regular file in the "
                "service's folder: commit the file itself."
            )
    except OSError as exc:  # a name too long, a folder that is not one
        raise InvalidConfig(f"{NAME} could not be read ({exc.strerror}).") from None
    data = tree.read_bytes(folder, NAME, limit=MAX_SIZE)  # refuses a link out, a FIFO, more than 64 KB
    if data is None:
        return {}
    return parse(data)


def parse(data: bytes) -> dict[str, object]:
    """m3o.toml's bytes -> {key: checked value} of its [healthcheck] table; InvalidConfig otherwise."""
    if len(data) > MAX_SIZE:
        raise InvalidConfig(f"{NAME} is larger than {MAX_SIZE // 1024} KB, more than the platform reads.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidConfig(f"{NAME} is not UTF-8 text (byte {exc.start + 1}).") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfig(f"{NAME} is not valid TOML: {exc}.") from None
    unknown = [key for key in document if key != TABLE]
    if unknown:
        raise InvalidConfig(
            f"{NAME}{_line(text, unknown[0], top=True)}: {_shown(unknown[0])} is not a setting the platform "
            f"knows; it reads only the [{TABLE}] table ({KEYS})."
        )
    table = document.get(TABLE, {})
    if not isinstance(table, dict):
        raise InvalidConfig(f"{NAME}: {TABLE} must be a table, [{TABLE}], holding {KEYS}.")
    found: dict[str, object] = {}
    for key, value in table.items():
        where = f"{NAME}{_line(text, key)}, [{TABLE}] {_shown(key)}"
        if key not in FIELDS:
            raise InvalidConfig(f"{where} is not a health check setting; the settings are {KEYS}.")
        found[key] = _check(key, value, where)
    return found


def _check(key: str, value: object, where: str) -> object:
    """One value, checked by the same rules as the service's setting."""
    field = FIELDS[key]
    try:
        if key == "path":
            if not isinstance(value, str):
                raise InvalidConfig(f'{where} must be a string, such as "/healthz".')
            return service_settings.clean_health_check_path(value)
        if key == "status":
            # A bare code is a status too: status = 200.
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise InvalidConfig(f'{where} must be a string of codes or ranges, such as "200-399".')
            return service_settings.clean_health_check_status(value)
        if isinstance(value, bool) or not isinstance(value, int):
            low, high = service_settings.BOUNDS[field]
            raise InvalidConfig(f"{where} must be a whole number from {low} to {high}, without quotes.")
        return service_settings.check_bounds(field, value)
    except ActionError as exc:
        raise InvalidConfig(f"{where}: {exc}") from None


def _shown(key: str) -> str:
    return repr(key[:40] + ("..." if len(key) > 40 else ""))


def _line(text: str, key: str, *, top: bool = False) -> str:
    """ " line N" where the key is set, when a plain search finds it (for the person fixing it)."""
    if len(key) > 100:
        return ""
    heading = re.escape(key) if top else rf"(?:{TABLE}\.)?{re.escape(key)}"
    pattern = re.compile(rf"^[ \t]*(?:\[[ \t]*{heading}[ \t]*\]|{heading}[ \t]*[=.])", re.MULTILINE)
    match = pattern.search(text)
    return f" line {text.count(chr(10), 0, match.start()) + 1}" if match else ""
