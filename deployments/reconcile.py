"""The engine converges to what the database says, like a Kubernetes controller.

Level-based: every pass compares the whole desired state (which deployments
should have an instance, which environments a network, which services images)
with what the engine has under this installation's labels, and mends the
difference, whatever happened in between: a worker killed halfway, an engine
error during a stop, containers removed by hand, a host reboot. Actions only
write the desired state; `converge()` does a service's or an environment's
engine work right after, with the same code, and the periodic pass repairs
what that missed.

It speaks to the engine only through the Runtime interface, so the Swarm
runtime gets the same controller. Two workers are safe: a pass holds a lock in
Redis, and every step is idempotent (a second removal finds nothing, a lost
instance is replaced with a conditional UPDATE).
"""

import dataclasses
import logging
import re
import shutil
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from deployments import processes
from deployments.errors import PlatformError
from deployments.models import Deployment, Instance, Service
from deployments.runtime import Found, Runtime, get_runtime
from environments.models import Environment
from portal import locks

log = logging.getLogger(__name__)
State = Deployment.State
_CHECKOUT = re.compile(r"^d(\d+)-")


@dataclass
class Pass:
    """One pass: what it changed, and how much more it may change."""

    runtime: Runtime
    budget: int
    changes: list[str] = field(default_factory=list)
    routes_changed: bool = False

    def may(self) -> bool:
        return len(self.changes) < self.budget

    def did(self, change: str) -> None:
        log.info("reconcile: %s", change)
        self.changes.append(change)


def reconcile(budget: int | None = None) -> list[str] | None:
    """One pass over everything; None when another worker is at it. Returns what changed."""
    close_old_connections()
    with locks.held("reconcile", timeout=settings.RECONCILE_INTERVAL * 10, wait=0) as got:
        if not got:
            log.info("reconcile: another worker is at it")
            return None
        current = Pass(get_runtime(), budget if budget is not None else settings.RECONCILE_MAX_CHANGES)
        _start_lost(current)
        found = current.runtime.instances()
        removed = _remove_unowned_instances(current, found)
        # A stop whose instance was gone already (or just removed) is done.
        still_there = {instance.deployment_id for instance in found} - removed
        Deployment.objects.filter(state=State.STOPPED, retired_at__isnull=True).exclude(
            pk__in=still_there
        ).update(retired_at=timezone.now())
        _remove_unowned_networks(current)
        _remove_unowned_images(current)
        _remove_stale_checkouts(current)
        _sync_routes(current)
    if current.changes:
        log.info("reconcile: %d change(s)", len(current.changes))
    return current.changes


def converge(*, service_id: int | None = None, environment_id: int | None = None) -> list[str]:
    """The engine work of a stop or a deletion, for one service or environment, done now.

    The routes first, so the address says "not running" before the instance goes.
    """
    close_old_connections()
    current = Pass(get_runtime(), budget=10_000)
    _sync_routes(current, force=True)
    found = [
        instance
        for instance in current.runtime.instances()
        if (service_id is None or instance.service_id == service_id)
        and (environment_id is None or instance.environment_id == environment_id)
    ]
    _remove_unowned_instances(current, found)
    stopped = Deployment.objects.filter(state=State.STOPPED, retired_at__isnull=True)
    if service_id is not None:
        stopped = stopped.filter(service_id=service_id)
    if environment_id is not None:
        stopped = stopped.filter(service__environment_id=environment_id)
    stopped.update(retired_at=timezone.now())  # every instance of them was just removed
    if environment_id is not None:
        _remove_unowned_networks(current, only=environment_id)
    images = current.runtime.images()
    kept = _services_kept(images)
    for owner, tags in images.items():
        if owner in kept or (service_id is not None and owner != service_id):
            continue
        if environment_id is None or Service.objects.filter(pk=owner, environment_id=environment_id).exists():
            _remove_images(current, owner, tags)
    return current.changes


def _owned(deployment: Deployment | None) -> bool:
    """Should this deployment's instance exist now?"""
    if deployment is None:
        return False
    if deployment.state in Deployment.ACTIVE_STATES or deployment.state == State.RUNNING:
        return True
    # Superseded and draining: its retirement (a task, or the reaper) removes it after the drain.
    return deployment.state == State.SUPERSEDED and deployment.retired_at is None


def _remove_unowned_instances(current: Pass, found: list[Found]) -> set[int]:
    """Remove the instances no deployment should have now; return those deployments' ids."""
    # The database is read after the engine: an instance made meanwhile is not in `found`,
    # and one in `found` belongs to a deployment whose state is read fresh here.
    ids = {instance.deployment_id for instance in found if instance.deployment_id is not None}
    deployments = Deployment.objects.in_bulk(ids)
    removed: set[int] = set()
    for instance in found:
        if instance.deployment_id is None or _owned(deployments.get(instance.deployment_id)):
            continue
        if not current.may():
            break
        current.runtime.remove(instance.id)
        current.routes_changed = True  # its address may still point at it
        removed.add(instance.deployment_id)
        current.did(f"removed instance {instance.id[:12]} of deployment {instance.deployment_id}")
    Deployment.objects.filter(pk__in=removed, retired_at__isnull=True).exclude(
        state__in=(*Deployment.ACTIVE_STATES, State.RUNNING, State.QUEUED)
    ).update(retired_at=timezone.now())
    return removed


def _start_lost(current: Pass) -> None:
    """Start again what should run but does not (removed by hand, lost in an engine restart)."""
    live = list(
        Deployment.objects.filter(state=State.RUNNING)
        .exclude(image="")
        .select_related("service__environment")
        .order_by("pk")
    )
    if not live:
        return
    # Read after the database: an instance that ran when it was read is in this list.
    found = current.runtime.instances()
    running = {instance.id for instance in found if instance.running}
    for deployment in live:
        web = {row.index: row for row in processes_web(deployment)}
        # Replica 0 drained by a rolling update or a scale is on its way out, not lost.
        leaving = bool(web) and (0 not in web or web[0].state == Instance.State.DRAINING)
        if deployment.instance_id not in running and not leaving:
            if not current.may():
                return
            _replace(current, deployment)
        _start_lost_replicas(current, deployment, web, running)
        _start_lost_processes(current, deployment, running)
    _remove_extra_processes(current, live, found)


def processes_web(deployment: Deployment) -> list[Instance]:
    return list(Instance.objects.filter(process__deployment=deployment, process__name="web"))


def _start_lost_replicas(current: Pass, deployment: Deployment, web: dict, running: set[str]) -> None:
    """Web replicas 2..N of a live deployment that are not on the engine, started again as
    replica 1 is (they keep their place in the ingress, at their new address)."""
    from deployments.pipeline import web_spec

    for index, row in sorted(web.items()):
        if index == 0 or row.state == Instance.State.DRAINING or row.container_id in running:
            continue
        if not current.may():
            return
        if row.container_id:
            current.runtime.remove(row.container_id)
        spec = dataclasses.replace(web_spec(deployment.service, deployment.pk, deployment.image), index=index)
        started = current.runtime.start(spec)
        if not Deployment.objects.filter(pk=deployment.pk, state=State.RUNNING).exists():
            current.runtime.remove(started.id)  # stopped or replaced meanwhile: nobody's
            return
        processes.record(deployment.pk, "web", index, started.id, started.host_port)
        current.runtime.keep_restarting(started.id)
        current.routes_changed = True
        current.did(f"started web replica {index + 1} of deployment {deployment.pk} again")


def _start_lost_processes(current: Pass, deployment: Deployment, running: set[str]) -> None:
    """The worker, clock, ... instances of a live deployment that are not on the engine (or not
    running, and so not restarted by it: stopped by hand), started again as the pipeline did."""
    from deployments.pipeline import process_spec

    for process in processes.others(deployment.pk):
        have = dict(process.instances.values_list("index", "container_id"))
        for index in range(process.replicas):
            old = have.get(index, "")
            if old in running:
                continue
            if not current.may():
                return
            try:
                if old:
                    current.runtime.remove(old)
                spec = process_spec(deployment.service, deployment.pk, deployment.image, process, index)
                started = current.runtime.start(spec)
            except PlatformError:
                raise
            except Exception as exc:  # one deployment's trouble must not stop the pass
                log.exception(
                    "reconcile: %s of deployment %s could not be started", process.name, deployment.pk
                )
                current.did(f"could not start {process.name} of deployment {deployment.pk} again: {exc}")
                continue
            if not Deployment.objects.filter(pk=deployment.pk, state=State.RUNNING).exists():
                current.runtime.remove(started.id)  # stopped or replaced meanwhile: nobody's
                return
            processes.record(deployment.pk, process.name, index, started.id, None)
            current.did(
                f"started {process.name} of deployment {deployment.pk} of {deployment.service.name} again"
            )


def _remove_extra_processes(current: Pass, live: list[Deployment], found: list[Found]) -> None:
    """Containers of a live deployment that no instance row names (one started by a pass, a
    pipeline or a scale that died before writing it down)."""
    ids = {deployment.pk for deployment in live}
    known = set(
        Instance.objects.filter(process__deployment_id__in=ids).values_list("container_id", flat=True)
    )
    known |= {deployment.instance_id for deployment in live}
    for instance in found:
        if instance.deployment_id in ids and instance.id not in known:
            if not current.may():
                return
            current.runtime.remove(instance.id)
            current.did(f"removed {instance.process} instance {instance.id[:12]} nobody owns")


def _replace(current: Pass, deployment: Deployment) -> None:
    from deployments.pipeline import web_spec

    runtime, old = current.runtime, deployment.instance_id
    try:
        if old:
            runtime.remove(old)  # stopped or dead: a fresh one is simpler than reviving it
        instance = runtime.start(web_spec(deployment.service, deployment.pk, deployment.image))
    except PlatformError:
        raise  # the engine is away: this pass ends, the next one tries again
    except Exception as exc:  # one deployment's trouble must not stop the pass
        log.exception("reconcile: deployment %s could not be started again", deployment.pk)
        current.did(f"could not start deployment {deployment.pk} again: {exc}")
        return
    moved = Deployment.objects.filter(pk=deployment.pk, state=State.RUNNING, instance_id=old).update(
        instance_id=instance.id, host_port=instance.host_port
    )
    if not moved:  # stopped or replaced meanwhile: this instance is nobody's
        runtime.remove(instance.id)
        return
    processes.record(deployment.pk, "web", 0, instance.id, instance.host_port)
    runtime.keep_restarting(instance.id)
    current.routes_changed = True
    current.did(f"started deployment {deployment.pk} of {deployment.service.name} again")


def _remove_unowned_networks(current: Pass, only: int | None = None) -> None:
    ids = current.runtime.networks()
    if only is not None:
        ids = [i for i in ids if i == only]
    in_use = Deployment.objects.filter(service__environment_id__in=ids).filter(
        Q(state__in=(*Deployment.ACTIVE_STATES, State.RUNNING))
        | Q(state=State.SUPERSEDED, retired_at__isnull=True)
    )
    wanted = set(in_use.values_list("service__environment_id", flat=True))
    live = set(Environment.objects.filter(pk__in=ids, deleted_at__isnull=True).values_list("pk", flat=True))
    for environment_id in ids:
        if environment_id in wanted and environment_id in live:
            continue
        if not current.may():
            return
        current.runtime.remove_network(environment_id)  # kept while a container still uses it
        if environment_id not in current.runtime.networks():
            current.did(f"removed the network of environment {environment_id}")


def _remove_unowned_images(current: Pass) -> None:
    """Images of services that are gone, or whose environment was deleted."""
    images = current.runtime.images()
    kept = _services_kept(images)
    for service_id, tags in images.items():
        if service_id not in kept:
            _remove_images(current, service_id, tags)


def _services_kept(images: dict[int, list[str]]) -> set[int]:
    alive = Service.objects.filter(pk__in=list(images), environment__deleted_at__isnull=True)
    return set(alive.values_list("pk", flat=True))


def _remove_images(current: Pass, service_id: int, tags: list[str]) -> None:
    for tag in tags:
        if not current.may():
            return
        current.runtime.remove_image(tag)
        current.did(f"removed image {tag} of service {service_id}")


def _remove_stale_checkouts(current: Pass) -> None:
    """A checkout outlives its deployment only when its worker was killed."""
    workspace = settings.WORKSPACE_DIR
    if not workspace.is_dir():
        return
    folders = {}
    for path in workspace.iterdir():
        match = _CHECKOUT.match(path.name)
        if match and path.is_dir() and not path.is_symlink():
            folders[path] = int(match.group(1))
    active = set(
        Deployment.objects.filter(pk__in=folders.values(), state__in=Deployment.ACTIVE_STATES).values_list(
            "pk", flat=True
        )
    )
    for path, deployment_id in folders.items():
        if deployment_id in active or not current.may():
            continue
        shutil.rmtree(path, ignore_errors=True)
        current.did(f"removed the checkout {path.name}")


def _sync_routes(current: Pass, force: bool = False) -> None:
    if not (force or current.routes_changed):
        return
    from ingress import routes

    try:
        routes.sync()
    except PlatformError as exc:
        log.error("reconcile: the proxy's routes were not loaded: %s", exc)
