"""A deployment's process types and their instances: what should run, and what the engine did.

The pipeline declares the process types a build found (its Procfile), starts the
web instance health-gated and the others (worker, clock, ...) after it, each as a
container of the same image with the same variables and network, without a port.
The engine restarts those when they exit (its restart policy, with its doubling
backoff); the log collector's worker reads each instance back every few seconds
(`observe`), so the dashboard, the API and `m3o ps` show state and restarts from
the database, never from the engine. The reconciler starts missing ones again.
"""

import logging
from dataclasses import dataclass

from django.db import close_old_connections, connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from deployments.errors import PlatformError
from deployments.models import Deployment, Instance, Process
from deployments.procfile import WEB
from deployments.runtime import InstanceState, Runtime

log = logging.getLogger(__name__)


def declare(deployment: Deployment, commands: dict[str, str]) -> None:
    """Write the deployment's process types ({name: command}), web first; once."""
    with transaction.atomic():
        for name, command in {WEB: "", **commands}.items():
            Process.objects.get_or_create(deployment=deployment, name=name, defaults={"command": command})


def copy(earlier: Deployment, deployment: Deployment) -> None:
    """A rollback, start or promotion runs the process types of the image's own deployment."""
    commands = dict(earlier.processes.values_list("name", "command"))
    replicas = dict(earlier.processes.values_list("name", "replicas"))
    declare(deployment, commands)
    for name, count in replicas.items():
        Process.objects.filter(deployment=deployment, name=name).update(replicas=count)


def web_command(deployment_id: int) -> str:
    found = Process.objects.filter(deployment_id=deployment_id, name=WEB).values_list("command", flat=True)
    return next(iter(found), "")


def others(deployment_id: int) -> list[Process]:
    """The process types besides web, in name order."""
    return list(Process.objects.filter(deployment_id=deployment_id).exclude(name=WEB).order_by("name"))


def record(deployment_id: int, name: str, index: int, container_id: str, host_port: int | None) -> Instance:
    """The container now running a replica of a process type (a new one, or one started again)."""
    process, _ = Process.objects.get_or_create(deployment_id=deployment_id, name=name)
    instance, created = Instance.objects.get_or_create(
        process=process, index=index, defaults={"container_id": container_id, "host_port": host_port}
    )
    if not created:
        # Started again by the reconciler: the restarts of the container it replaces still count.
        instance.restarts_before = instance.restarts + 1
        instance.restarts = instance.restarts_before
        instance.container_id, instance.host_port = container_id, host_port
        instance.state, instance.exit_code = Instance.State.STARTING, None
        instance.started_at = timezone.now()
        instance.save()
    return instance


def start_others(runtime: Runtime, deployment: Deployment, spec_for) -> list[Process]:
    """Start the instances of every process type besides web (`spec_for(process, index)` says how)."""
    started = others(deployment.pk)
    for process in started:
        for index in range(process.replicas):
            instance = runtime.start(spec_for(process, index))
            record(deployment.pk, process.name, index, instance.id, None)
    return started


def containers(deployment_id: int, *, besides_web: bool = False) -> list[str]:
    instances = Instance.objects.filter(process__deployment_id=deployment_id).exclude(container_id="")
    if besides_web:
        instances = instances.exclude(process__name=WEB)
    return list(instances.values_list("container_id", flat=True))


def gone(deployment_id: int) -> None:
    Instance.objects.filter(process__deployment_id=deployment_id).update(state=Instance.State.GONE)


def observe(runtime: Runtime) -> int:
    """Read every instance of the running deployments back from the engine; return how many changed."""
    close_old_connections()
    try:
        instances = list(
            Instance.objects.filter(process__deployment__state=Deployment.State.RUNNING)
            .exclude(container_id="")
            .exclude(state=Instance.State.DRAINING)  # on its way out: it stays so
        )
        changed = 0
        for instance in instances:
            try:
                seen = runtime.state(instance.container_id)
            except PlatformError as exc:
                log.warning("instance %s not read: %s", instance.container_id[:12], exc)
                return changed
            changed += _update(instance, seen)
        return changed
    except DatabaseError:
        connection.close()  # a database that blinked: the next round opens a fresh connection
        raise


def _update(instance: Instance, seen: InstanceState) -> int:
    if seen.running:
        state = Instance.State.RUNNING
    elif seen.restarting:
        state = Instance.State.RESTARTING
    elif seen.exit_code is None:
        state = Instance.State.GONE
    else:
        state = Instance.State.EXITED
    # Never fewer: a container gone from the engine has no count left to read.
    restarts = max(instance.restarts, instance.restarts_before + seen.restarts)
    exit_code = instance.exit_code if seen.running else seen.exit_code
    if (state, restarts, exit_code) == (instance.state, instance.restarts, instance.exit_code):
        return 0
    # Only while it is still this container: the reconciler may have replaced it meanwhile.
    same = Instance.objects.filter(pk=instance.pk, container_id=instance.container_id)
    return same.exclude(state=Instance.State.DRAINING).update(
        state=state, restarts=restarts, exit_code=exit_code, seen_at=timezone.now()
    )


@dataclass(frozen=True)
class Row:
    """One process type of the live deployment, as the service page, the API and `m3o ps` show it."""

    name: str
    command: str
    replicas: int
    running: int
    state: str
    restarts: int
    instances: list[Instance]


def for_service(service) -> list[Row]:
    """The live deployment's process types, web first; [] when nothing runs."""
    live = service.live_deployment
    if live is None or live.state != Deployment.State.RUNNING:
        return []
    rows = []
    found = Process.objects.filter(deployment=live).prefetch_related("instances")
    for process in sorted(found, key=lambda p: (p.name != WEB, p.name)):
        instances = list(process.instances.all())
        states = sorted({instance.state for instance in instances}) or [Instance.State.STARTING]
        rows.append(
            Row(
                name=process.name,
                command=process.command,
                replicas=process.replicas,
                running=sum(instance.state == Instance.State.RUNNING for instance in instances),
                state=", ".join(states),
                restarts=sum(instance.restarts for instance in instances),
                instances=instances,
            )
        )
    return rows
