"""Replica counts per process type (`m3o ps:scale web=3 worker=1`): the action, and the worker's half.

The action checks the request (known process types, whole numbers within the plan's
limit, web at least 1), writes the counts on the live deployment's process types
with an audit record, and hands the engine work to a worker. The worker starts new
replicas (a web one health-gated, in the ingress once it answers) and stops the ones
no longer wanted (a web one out of the ingress first, drained, then given its grace
period). A new deployment of the service inherits the live one's counts.
"""

import logging

from django.conf import settings
from django.db import close_old_connections, transaction

from billing.quotas import enforced, plan_for
from deployments import logs, replicas
from deployments.actions import ActionError
from deployments.errors import PlatformError, UserError
from deployments.models import Deployment, Instance, Process, Service
from deployments.processes import record as record_instance
from deployments.procfile import WEB
from deployments.runtime import get_runtime
from environments.audit import record
from portal import locks

log = logging.getLogger(__name__)
State = Deployment.State
# Without plans that hold (a self-hosted installation), a bound all the same.
UNPLANNED_MAX = 20


def max_replicas(service: Service) -> tuple[int, str]:
    """The most replicas a process type of the service may have, and the plan that says so."""
    if not enforced():
        return UNPLANNED_MAX, ""
    plan = plan_for(service)
    return plan.max_replicas, plan.name


def check(service: Service, counts: object) -> dict[str, int]:
    """{process type: replicas} from a request, or ActionError saying what is wrong."""
    live = service.live_deployment
    if live is None or live.state != State.RUNNING:
        raise ActionError(f"{service.name} is not running; start or deploy it, then scale it.")
    if not isinstance(counts, dict) or not counts:
        raise ActionError('Say how many replicas of which process type, e.g. {"web": 3, "worker": 1}.')
    known = set(
        Process.objects.filter(deployment=live).exclude(name="release").values_list("name", flat=True)
    )
    limit, plan = max_replicas(service)
    cleaned = {}
    for name, count in counts.items():
        if name not in known:
            types = ", ".join(sorted(known))
            raise ActionError(f"{str(name)[:40]!r} is not a process type of {service.name} (it has {types}).")
        if isinstance(count, bool) or not isinstance(count, int):
            raise ActionError(f"The replicas of {name} must be a whole number, not {str(count)[:20]!r}.")
        if count < 0 or (name == WEB and count < 1):
            least = 1 if name == WEB else 0
            raise ActionError(
                f"The replicas of {name} must be at least {least}; stop the service to stop it."
            )
        if count > limit:
            where = f"The {plan} plan allows" if plan else "This installation allows"
            raise ActionError(f"{where} at most {limit} replicas per process type; {name} asked for {count}.")
        cleaned[name] = count
    return cleaned


def scale(service: Service, user, counts: object) -> dict[str, int]:
    """Set the live deployment's replica counts; a worker makes the engine match after the commit."""
    from deployments.tasks import scale as scale_task

    cleaned = check(service, counts)
    live = service.live_deployment
    with transaction.atomic():
        for name, count in cleaned.items():
            Process.objects.filter(deployment=live, name=name).update(replicas=count)
        said = " ".join(f"{name}={count}" for name, count in sorted(cleaned.items()))
        record(service.environment, user, "scale", f"{service.name}: {said}")
        logs.BuildLog(live).write(f"==> Scaling to {said}")
        transaction.on_commit(lambda: scale_task.apply_async(args=[service.pk], queue=settings.DEPLOY_QUEUE))
    return cleaned


def inherit(service: Service, deployment: Deployment) -> None:
    """A new deployment runs as many replicas of each process type as the live one does."""
    earlier = Service.objects.values_list("live_deployment_id", flat=True).get(pk=service.pk)
    if earlier is None or earlier == deployment.pk:
        return
    limit, _ = max_replicas(service)
    for name, count in Process.objects.filter(deployment_id=earlier).values_list("name", "replicas"):
        Process.objects.filter(deployment=deployment, name=name).update(replicas=min(count, limit))


def apply(service_id: int) -> None:
    """The worker's half: the live deployment's replicas become what its process types ask for."""
    close_old_connections()
    # One at a time per service: two quick scales, or a scale during a rolling update, in turn.
    with locks.held(f"replicas-{service_id}", timeout=900, wait=600) as got:
        if not got:
            log.warning("scaling of service %s skipped: its lock was not had", service_id)
            return
        service = Service.objects.select_related("live_deployment", "environment").get(pk=service_id)
        live = service.live_deployment
        if live is None or live.state != State.RUNNING:
            return
        runtime = get_runtime()
        build_log = logs.BuildLog(live)
        for process in Process.objects.filter(deployment=live).exclude(name="release").order_by("name"):
            try:
                if process.name == WEB:
                    _scale_web(runtime, service, live, process.replicas, build_log.write)
                else:
                    _scale_other(runtime, service, live, process)
            except (UserError, PlatformError) as exc:
                build_log.write(f"==> Scaling {process.name} stopped: {exc}")
                log.warning("scaling %s of service %s stopped: %s", process.name, service_id, exc)


def _scale_web(runtime, service: Service, live: Deployment, count: int, on_line) -> None:
    rows = replicas.web_rows(live.pk, serving_only=True)
    if len(rows) < count:
        used = {row.index for row in replicas.web_rows(live.pk)}
        free = (index for index in range(1_000) if index not in used)
        for index in [next(free) for _ in range(count - len(rows))]:
            try:
                row = replicas.start_web(runtime, service, live, index, on_line)
            except replicas.ReplicaFailed as exc:
                # What runs is what the service has: `m3o ps` never promises a replica that failed.
                running = len(replicas.web_rows(live.pk, serving_only=True))
                Process.objects.filter(deployment=live, name=WEB).update(replicas=running)
                on_line(f"==> {exc} web stays at {running} replica{'s' if running > 1 else ''}")
                return
            replicas.route([row])
            replicas.load_routes()
        on_line(f"==> web runs {count} replicas")
    elif len(rows) > count:
        # Replica 0 stays: the deployment's own instance (Deployment.instance_id).
        going = sorted(rows, key=lambda row: row.index)[count:]
        replicas.drain_and_stop(runtime, going)
        on_line(f"==> web runs {count} replica{'s' if count > 1 else ''}")


def _scale_other(runtime, service: Service, live: Deployment, process: Process) -> None:
    from deployments.pipeline import process_spec

    rows = list(process.instances.exclude(state=Instance.State.DRAINING).order_by("index"))
    used = {row.index for row in rows}
    for index in range(process.replicas):
        if index not in used:
            started = runtime.start(process_spec(service, live.pk, live.image, process, index))
            record_instance(live.pk, process.name, index, started.id, None)
    for row in rows:
        if row.index >= process.replicas:
            replicas.remove(runtime, row)
