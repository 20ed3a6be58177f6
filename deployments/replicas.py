"""Web replicas: each its own container and host port, health-gated before the ingress sends it
anything, taken out of the ingress and drained before it stops.

The ingress reads which replicas get requests from Instance.routed (ingress/routes.py), so a
replica goes in and out by a row update and a route load. A replica taken out is marked
draining, and stopped (SIGTERM, its grace period) INGRESS_DRAIN_SECONDS later, once the
requests the proxy already sent it are answered. Rolling updates (deployments/rolling.py)
and scaling (deployments/scaling.py) are made of these steps.
"""

import dataclasses
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections

from deployments import health, repo_config
from deployments.errors import PlatformError, UserError
from deployments.models import Deployment, Instance, Process, Service
from deployments.processes import record
from deployments.procfile import WEB
from deployments.runtime import AppExited, Runtime

log = logging.getLogger(__name__)
State = Instance.State


class ReplicaFailed(UserError):
    """A new replica did not pass its health check: what was there keeps serving."""

    def __init__(self, message: str, output: list[str]) -> None:
        super().__init__(message)
        self.output = output


def web_rows(deployment_id: int, *, serving_only: bool = False) -> list[Instance]:
    """The deployment's web replicas, by index; `serving_only`: those not on their way out."""
    rows = Instance.objects.filter(process__deployment_id=deployment_id, process__name=WEB)
    if serving_only:
        rows = rows.exclude(state=State.DRAINING)
    return list(rows.order_by("index"))


def wanted(deployment_id: int, name: str = WEB) -> int:
    found = Process.objects.filter(deployment_id=deployment_id, name=name).values_list("replicas", flat=True)
    return next(iter(found), 1)


def start_web(
    runtime: Runtime, service: Service, deployment: Deployment, index: int, on_line: Callable[[str], None]
) -> Instance:
    """Start web replica `index` of the deployment and wait for its health check; not routed yet.

    ReplicaFailed (and the replica removed) when it does not pass.
    """
    from deployments.pipeline import web_spec

    spec = dataclasses.replace(web_spec(service, deployment.pk, deployment.image), index=index)
    name = f"Web replica {index + 1} of deployment #{deployment.pk}"
    try:
        started = runtime.start(spec)
    except AppExited as exc:  # ended before its port was even published
        raise ReplicaFailed(f"{name} did not pass its health check: {exc}", exc.output) from None
    row = record(deployment.pk, WEB, index, started.id, started.host_port)
    try:
        seconds = _wait_healthy(runtime, service, deployment, started.id, started.host_port)
    except UserError as exc:
        lines = runtime.tail(started.id, settings.CRASH_LOG_LINES)
        remove(runtime, row)
        raise ReplicaFailed(f"{name} did not pass its health check: {exc}", lines) from None
    runtime.keep_restarting(started.id)
    on_line(f"==> {name} healthy after {seconds:.1f} s")
    return row


def _wait_healthy(runtime: Runtime, service: Service, deployment: Deployment, container_id: str, port: int):
    check = repo_config.health_check(deployment)  # the service's settings, or m3o.toml's
    return health.wait(
        f"http://127.0.0.1:{port}{check.path}",
        service.port,
        max(settings.HEALTH_TIMEOUT, check.start_period),
        lambda: runtime.state(container_id),
        spec=check.status,
        probe_timeout=check.timeout,
    )


def restart_in_turn(runtime: Runtime, deployment: Deployment) -> None:
    """`m3o restart` of several web replicas: each in turn out of the ingress, drained, restarted
    (its grace period), back in once it passes its health check; the others serve meanwhile."""
    service = deployment.service
    for row in web_rows(deployment.pk, serving_only=True):
        Instance.objects.filter(pk=row.pk).update(routed=False)
        load_routes()
        time.sleep(settings.INGRESS_DRAIN_SECONDS)
        host_port = runtime.restart(row.container_id)
        # Published again at start: the port on the host may be another one now.
        Instance.objects.filter(pk=row.pk).update(host_port=host_port)
        Deployment.objects.filter(pk=deployment.pk, instance_id=row.container_id).update(host_port=host_port)
        try:
            _wait_healthy(runtime, service, deployment, row.container_id, host_port)
        except UserError as exc:  # back in all the same: the health monitor takes it from here
            log.warning(
                "web replica %s of deployment %s after its restart: %s", row.index + 1, deployment.pk, exc
            )
        Instance.objects.filter(pk=row.pk).update(routed=True)
        load_routes()


def remove(runtime: Runtime, row: Instance) -> None:
    """Stop the replica's container now and forget it."""
    if row.container_id:
        runtime.remove(row.container_id)
    Instance.objects.filter(pk=row.pk, container_id=row.container_id).delete()


def route(rows: list[Instance]) -> None:
    Instance.objects.filter(pk__in=[row.pk for row in rows]).update(routed=True)


def unroute(deployment_id: int) -> None:
    """None of the deployment's replicas gets requests (before an attempt starts them again)."""
    Instance.objects.filter(process__deployment_id=deployment_id).update(routed=False)


def take_out(rows: list[Instance]) -> None:
    """Out of the ingress (on the next route load), and stopped after the drain."""
    Instance.objects.filter(pk__in=[row.pk for row in rows]).update(routed=False, state=State.DRAINING)


def load_routes() -> None:
    """The ingress takes the replicas' new state; the ones taken out keep serving what they have."""
    from ingress import routes

    routes.sync(draining=True)


def stop_after_drain(rows: list[Instance]) -> None:
    """Stop the drained replicas once the proxy has let go of them, off the caller's path."""
    from deployments.tasks import stop_drained

    if not rows:
        return
    try:
        stop_drained.apply_async(
            args=[[row.pk for row in rows]],
            countdown=settings.INGRESS_DRAIN_SECONDS,
            queue=settings.DEPLOY_QUEUE,
        )
    except Exception:  # the broker is away: the deployment's retirement removes them
        log.exception("stop of drained replicas %s not scheduled", [row.pk for row in rows])


def stop_drained(instance_ids: list[int], runtime: Runtime) -> None:
    """The replicas still draining (none was brought back meanwhile), stopped and forgotten."""
    close_old_connections()
    for row in Instance.objects.filter(pk__in=instance_ids, state=State.DRAINING):
        try:
            remove(runtime, row)
        except PlatformError as exc:  # the deployment's retirement or the reconciler finishes it
            log.warning("drained replica %s not stopped: %s", row.container_id[:12], exc)


def drain_and_stop(runtime: Runtime, rows: list[Instance]) -> None:
    """Take replicas out, wait for the drain, stop them: the caller waits (scaling down)."""
    if not rows:
        return
    take_out(rows)
    load_routes()
    time.sleep(settings.INGRESS_DRAIN_SECONDS)
    for row in rows:
        remove(runtime, row)
