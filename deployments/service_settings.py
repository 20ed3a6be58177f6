"""A service's settings: where its code comes from, how it is built, started and checked, its name.

The settings page, the API's PATCH and `m3o settings` all change a service here,
so they accept and refuse the same things. A change applies from the next
deployment; nothing is rebuilt or restarted by saving.
"""

import re

from django.db import IntegrityError, transaction

from deployments import health, tree
from deployments.actions import ActionError, _clean_name, _clean_source, converge_later, set_commands
from deployments.controls import delete_service
from deployments.models import Service
from deployments.source import InvalidSource, check_upload_owner, upload_path
from environments.actions import record
from ingress import addresses
from ingress.models import Hostname

DEFAULT_GRACE = object()  # stop_grace_period=DEFAULT_GRACE: the platform's STOP_TIMEOUT again
_HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,199}$")

# What each setting is called where a person reads it (audit records, messages).
LABELS = {
    "repository_url": "repository",
    "branch": "branch",
    "subdirectory": "folder",
    "port": "port",
    "start_command": "start command",
    "build_command": "build command",
    "predeploy_command": "pre-deploy command",
    "health_check_path": "health check path",
    "health_check_status": "expected status",
    "health_check_interval": "check interval",
    "health_check_timeout": "check timeout",
    "health_check_start_period": "start period",
    "health_check_threshold": "failure threshold",
    "stop_grace_period": "grace period",
    "name": "name",
}

# The health check's numbers and the grace period: seconds (the threshold: checks), inclusive.
BOUNDS = {
    "health_check_interval": (1, 300),
    "health_check_timeout": (1, health.MAX_TIMEOUT),
    "health_check_start_period": (0, 600),
    "health_check_threshold": (1, 10),
    "stop_grace_period": (0, 300),
}


def clean_health_check_path(path: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise ActionError("The health check path may not hold line breaks or other control characters.")
    path = path.strip() or "/"
    if "://" in path or path.startswith("//"):
        raise ActionError(
            "The health check path is a path on the app itself, such as /health, not a full URL: "
            "the platform asks each instance directly."
        )
    if ".." in path.split("?")[0].split("/"):
        raise ActionError("The health check path may not hold .. segments.")
    if not _HEALTH_PATH.match(path):
        raise ActionError(
            "The health check path must start with / and hold at most 200 characters of a URL path "
            "(letters, digits and - . _ ~ / and the like; no spaces)."
        )
    return path


def clean_health_check_status(text: str) -> str:
    text = text.strip() or health.DEFAULT_STATUS
    try:
        health.parse_status(text)
    except health.InvalidStatus as exc:
        raise ActionError(
            f"The expected status is HTTP codes or ranges, such as 200, 200-399 or 2xx,301 ({exc})."
        ) from None
    return ",".join(part.strip().lower() for part in text.split(","))


def check_bounds(field: str, value: int) -> int:
    low, high = BOUNDS[field]
    if not low <= value <= high:
        unit = "checks" if field == "health_check_threshold" else "seconds"
        raise ActionError(f"The {LABELS[field]} must be between {low} and {high} {unit}.")
    return value


def is_upload(service: Service) -> bool:
    return service.repository_url == str(upload_path(service.environment_id, service.name))


@transaction.atomic
def change_settings(
    service: Service,
    user,
    *,
    repository_url: str | None = None,
    branch: str | None = None,
    subdirectory: str | None = None,
    port: int | None = None,
    start_command: str | None = None,
    build_command: str | None = None,
    predeploy_command: str | None = None,
    health_check_path: str | None = None,
    health_check_status: str | None = None,
    health_check_interval: int | None = None,
    health_check_timeout: int | None = None,
    health_check_start_period: int | None = None,
    health_check_threshold: int | None = None,
    stop_grace_period: int | object | None = None,
    name: str | None = None,
) -> list[str]:
    """Change what is given (None leaves a setting as it is); return the labels of what changed.

    A service whose deployments all failed is mended here: the next "Deploy again"
    uses these settings.
    """
    service = Service.objects.select_for_update().get(pk=service.pk)
    before = {field: getattr(service, field) for field in LABELS}
    if repository_url is not None or branch is not None or subdirectory is not None:
        url, clean_branch, folder = _clean_source(
            service.repository_url if repository_url is None else repository_url.strip(),
            service.branch if branch is None else branch.strip(),
            service.subdirectory if subdirectory is None else subdirectory,
        )
        if url != service.repository_url:
            if is_upload(service):
                raise ActionError(
                    "An uploaded service keeps its folder; deploy the repository as a new service."
                )
            try:
                check_upload_owner(url, service.environment_id, service.name)
            except InvalidSource as exc:
                raise ActionError(str(exc)) from None
            # A pasted URL is cloned without a token; picking from GitHub sets these again.
            service.github_repository, service.is_private = "", False
        service.repository_url, service.branch, service.subdirectory = url, clean_branch, folder
    if port is not None:
        if not 1 <= port <= 65535:
            raise ActionError("The port must be between 1 and 65535.")
        service.port = port
    set_commands(service, start=start_command, build=build_command, predeploy=predeploy_command)
    if health_check_path is not None:
        service.health_check_path = clean_health_check_path(health_check_path)
    if health_check_status is not None:
        service.health_check_status = clean_health_check_status(health_check_status)
    numbers = {
        "health_check_interval": health_check_interval,
        "health_check_timeout": health_check_timeout,
        "health_check_start_period": health_check_start_period,
        "health_check_threshold": health_check_threshold,
    }
    for field, value in numbers.items():
        if value is not None:
            setattr(service, field, check_bounds(field, value))
    if stop_grace_period is not None:
        # DEFAULT_GRACE: back to the platform's STOP_TIMEOUT.
        grace = None if stop_grace_period is DEFAULT_GRACE else stop_grace_period
        service.stop_grace_period = None if grace is None else check_bounds("stop_grace_period", grace)
    changed = [LABELS[field] for field, value in before.items() if getattr(service, field) != value]
    if name is not None and name.strip() != service.name:
        _rename(service, _clean_name(name.strip()))
        changed.append("name")
    if not changed:
        return []
    service.save()
    record(service.environment, user, "settings", f"{before['name']}: {', '.join(changed)}")
    return changed


def _rename(service: Service, new_name: str) -> None:
    """The name is in the service's address, so the address follows it at once, as a Heroku
    app's does: `<new name>-<environment>`, or with the environment's suffix when another
    service has that (ingress/addresses.py). The old address is released."""
    if is_upload(service):
        raise ActionError("An uploaded service keeps its name; upload it again under the new name.")
    if Service.objects.filter(environment_id=service.environment_id, name=new_name).exists():
        raise ActionError(f"{service.environment.name} has a service called {new_name} already.")
    Hostname.objects.filter(service=service).delete()
    service.name = new_name
    try:
        with transaction.atomic():
            service.save(update_fields=["name"])
    except IntegrityError:  # taken meanwhile
        raise ActionError(f"{service.environment.name} has a service called {new_name} already.") from None
    addresses.assign(service)
    if service.live_deployment_id:
        converge_later(service_id=service.pk)  # the proxy learns the new address


def remove_service(service: Service, user) -> None:
    """Delete the service (controls.delete_service), then its own upload folder, if it had one."""
    # Its own upload folder and nothing else, whatever its repository URL names.
    upload = upload_path(service.environment_id, service.name)
    delete_service(service, user)
    tree.remove(upload)
