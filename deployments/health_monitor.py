"""Health checks after the switch: every live web replica, every `interval` seconds of its service.

A replica that fails `threshold` checks in a row is taken out of the ingress (the
others keep serving; with none left, its address answers 503 "failing its health
checks" instead of passing requests to an app that cannot answer them), restarted
(SIGTERM, its grace period, then SIGKILL), and put back at the first check that
passes. Each step is a HealthEvent naming the replica, shown on the service's page
and in the API, and an audit record. Replica 1's state is mirrored on its deployment.

Beat sends a pass every HEALTH_MONITOR_TICK seconds. A pass holds a lock in Redis,
so a second worker skips it; it claims each instance's check with a conditional
UPDATE, checks at most HEALTH_MONITOR_BATCH instances, in threads, each bounded by
its own timeout, and hands restarts to a task of their own, so a pass never waits
for an app's grace period.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from deployments import health, repo_config
from deployments.errors import PlatformError
from deployments.models import Deployment, HealthEvent, Instance
from deployments.runtime import get_runtime
from environments.actions import record
from portal import locks

log = logging.getLogger(__name__)
State = Deployment.State
PROBE_THREADS = 16


@dataclass
class Pass:
    now: datetime
    routes_changed: bool = False
    restarts: list[tuple[int, str]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def monitor(batch: int | None = None) -> list[str] | None:
    """One pass; None when another worker is at it. Returns what it did, for the log."""
    close_old_connections()
    lock_seconds = health.MAX_TIMEOUT * 2 + 30
    with locks.held("health-monitor", timeout=lock_seconds, wait=0) as got:
        if not got:
            return None
        current = Pass(timezone.now())
        due = _claim_due(current.now, batch or settings.HEALTH_MONITOR_BATCH)
        if due:
            with ThreadPoolExecutor(max_workers=min(PROBE_THREADS, len(due))) as pool:
                results = list(pool.map(_probe, due))
            for deployment, result in zip(due, results, strict=True):
                _judge(current, deployment, result)
        if current.routes_changed:
            # Out of the ingress before the restart begins, back in as soon as it passes.
            from ingress.routes import sync_quietly

            sync_quietly()
        _restart_later(current.restarts)
    return current.events


def _claim_due(now: datetime, batch: int) -> list[Instance]:
    """The live web replicas whose check is due, oldest check first, each claimed once."""
    candidates = (
        Instance.objects.filter(
            process__name="web", process__deployment__state=State.RUNNING, host_port__isnull=False
        )
        .filter(Q(routed=True) | Q(unhealthy_since__isnull=False))
        .exclude(container_id="")
        .exclude(state=Instance.State.DRAINING)
        .select_related("process__deployment__service__environment")
        .order_by(F("health_checked_at").asc(nulls_first=True), "pk")
    )
    # Half a tick early is on time: beat's ticks and the interval do not line up.
    slack = timedelta(seconds=settings.HEALTH_MONITOR_TICK / 2)
    claimed = []
    for replica in candidates.iterator(chunk_size=500):
        if len(claimed) >= batch:
            break
        last = replica.health_checked_at
        deployment = replica.process.deployment
        if last is not None and now - last + slack < timedelta(
            seconds=repo_config.health_check(deployment).interval
        ):
            continue
        took = Instance.objects.filter(
            pk=replica.pk, container_id=replica.container_id, health_checked_at=last
        ).update(health_checked_at=now)
        if took:
            _mirror(replica, health_checked_at=now)
            claimed.append(replica)
    return claimed


def _mirror(replica: Instance, **values) -> None:
    """Replica 1's health is its deployment's too (Deployment.instance_id names it)."""
    if replica.index == 0:
        Deployment.objects.filter(pk=replica.process.deployment_id, instance_id=replica.container_id).update(
            **values
        )


def _probe(replica: Instance) -> health.Probe:
    check = repo_config.health_check(replica.process.deployment)
    url = f"http://127.0.0.1:{replica.host_port}{check.path}"
    return health.probe(url, check.timeout, check.status)


def _quiet_until(replica: Instance) -> datetime:
    """Failures before this do not count: the app is booting, or being restarted by us."""
    deployment = replica.process.deployment
    check = repo_config.health_check(deployment)
    start_period = timedelta(seconds=check.start_period)
    since = [deployment.healthy_at or deployment.created_at, replica.started_at]
    if replica.health_restarted_at:
        since.append(replica.health_restarted_at + timedelta(seconds=check.grace_period))
    return max(since) + start_period


def _judge(current: Pass, replica: Instance, result: health.Probe) -> None:
    same = Instance.objects.filter(
        pk=replica.pk, container_id=replica.container_id, process__deployment__state=State.RUNNING
    )

    def update(**values) -> int:
        done = same.update(**values)
        if done:
            _mirror(replica, **values)
        return done

    if result.ok:
        if replica.unhealthy_since is not None:
            if update(unhealthy_since=None, health_failures=0):
                current.routes_changed = True
                _event(
                    current,
                    replica,
                    HealthEvent.Kind.BACK,
                    "passes its health check again: back in the ingress",
                )
        elif replica.health_failures:
            update(health_failures=0)
        return
    if current.now < _quiet_until(replica):
        return
    failures = replica.health_failures + 1
    if failures < repo_config.health_check(replica.process.deployment).threshold:
        update(health_failures=failures)
        return
    if not update(
        health_failures=0,
        health_restarted_at=current.now,
        unhealthy_since=replica.unhealthy_since or current.now,
    ):
        return
    current.restarts.append((replica.pk, replica.container_id))
    why = f"failed {failures} health check{'s' if failures > 1 else ''} in a row ({result.problem})"
    if replica.unhealthy_since is None:
        current.routes_changed = True
        _event(current, replica, HealthEvent.Kind.TAKEN_OUT, f"{why}: taken out of the ingress, restarting")
    else:
        _event(current, replica, HealthEvent.Kind.RESTARTED, f"{why} since its restart: restarting again")


def _name(replica: Instance) -> str:
    return f"web replica {replica.index + 1}"


def _event(current: Pass, replica: Instance, kind: str, detail: str) -> None:
    deployment = replica.process.deployment
    service = deployment.service
    detail = f"{_name(replica)} {detail}"
    text = f"{service.name}: deployment #{deployment.pk} {detail}"
    with transaction.atomic():
        HealthEvent.objects.create(service=service, deployment=deployment, kind=kind, detail=detail[:300])
        record(service.environment, None, "health", text)
    log.info("health: %s", text)
    current.events.append(text)


def _restart_later(restarts: list[tuple[int, str]]) -> None:
    from deployments.tasks import restart_unhealthy

    for replica_id, container_id in restarts:
        try:
            restart_unhealthy.apply_async(args=[replica_id, container_id], queue=settings.DEPLOY_QUEUE)
        except Exception:  # the broker is away: the next failed checks ask again
            log.exception("restart of replica %s not sent", replica_id)


def restart(replica_id: int, container_id: str) -> None:
    """The restart the monitor asked for, if that container still is the replica of a live deployment."""
    close_old_connections()
    replica = (
        Instance.objects.filter(
            pk=replica_id, container_id=container_id, process__deployment__state=State.RUNNING
        )
        .select_related("process__deployment__service")
        .first()
    )
    if replica is None:
        return
    try:
        host_port = get_runtime().restart(container_id)
    except PlatformError as exc:
        log.error("health: %s was not restarted: %s", container_id[:12], exc)
        return
    now = timezone.now()
    Instance.objects.filter(pk=replica.pk, container_id=container_id).update(
        host_port=host_port, health_restarted_at=now
    )
    _mirror(replica, host_port=host_port, health_restarted_at=now)
    deployment = replica.process.deployment
    grace = repo_config.health_check(deployment).grace_period
    HealthEvent.objects.create(
        service=deployment.service,
        deployment=deployment,
        kind=HealthEvent.Kind.RESTARTED,
        detail=f"{_name(replica)} restarted (SIGTERM, then SIGKILL after {grace} s if still running)",
    )
