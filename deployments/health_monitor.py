"""Health checks after the switch: every live web instance, every `interval` seconds of its service.

An instance that fails `threshold` checks in a row is taken out of the ingress
(its address answers 503 "failing its health checks" instead of passing requests
to an app that cannot answer them), restarted (SIGTERM, its grace period, then
SIGKILL), and put back at the first check that passes. Each step is a HealthEvent,
shown on the service's page and in the API, and an audit record.

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
from django.db.models import F
from django.utils import timezone

from deployments import health, repo_config
from deployments.errors import PlatformError
from deployments.models import Deployment, HealthEvent
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


def _claim_due(now: datetime, batch: int) -> list[Deployment]:
    """The live instances whose check is due, oldest check first, each claimed once."""
    candidates = (
        Deployment.objects.filter(state=State.RUNNING, host_port__isnull=False)
        .exclude(instance_id="")
        .select_related("service__environment")
        .order_by(F("health_checked_at").asc(nulls_first=True), "pk")
    )
    # Half a tick early is on time: beat's ticks and the interval do not line up.
    slack = timedelta(seconds=settings.HEALTH_MONITOR_TICK / 2)
    claimed = []
    for deployment in candidates.iterator(chunk_size=500):
        if len(claimed) >= batch:
            break
        last = deployment.health_checked_at
        if last is not None and now - last + slack < timedelta(
            seconds=repo_config.health_check(deployment).interval
        ):
            continue
        took = Deployment.objects.filter(
            pk=deployment.pk, state=State.RUNNING, instance_id=deployment.instance_id, health_checked_at=last
        ).update(health_checked_at=now)
        if took:
            claimed.append(deployment)
    return claimed


def _probe(deployment: Deployment) -> health.Probe:
    check = repo_config.health_check(deployment)
    url = f"http://127.0.0.1:{deployment.host_port}{check.path}"
    return health.probe(url, check.timeout, check.status)


def _quiet_until(deployment: Deployment) -> datetime:
    """Failures before this do not count: the app is booting, or being restarted by us."""
    check = repo_config.health_check(deployment)
    start_period = timedelta(seconds=check.start_period)
    since = [deployment.healthy_at or deployment.created_at]
    if deployment.health_restarted_at:
        since.append(deployment.health_restarted_at + timedelta(seconds=check.grace_period))
    return max(since) + start_period


def _judge(current: Pass, deployment: Deployment, result: health.Probe) -> None:
    same = Deployment.objects.filter(
        pk=deployment.pk, instance_id=deployment.instance_id, state=State.RUNNING
    )
    if result.ok:
        if deployment.unhealthy_since is not None:
            if same.update(unhealthy_since=None, health_failures=0):
                current.routes_changed = True
                _event(
                    current,
                    deployment,
                    HealthEvent.Kind.BACK,
                    "passes its health check again: back in the ingress",
                )
        elif deployment.health_failures:
            same.update(health_failures=0)
        return
    if current.now < _quiet_until(deployment):
        return
    failures = deployment.health_failures + 1
    if failures < repo_config.health_check(deployment).threshold:
        same.update(health_failures=failures)
        return
    if not same.update(
        health_failures=0,
        health_restarted_at=current.now,
        unhealthy_since=deployment.unhealthy_since or current.now,
    ):
        return
    current.restarts.append((deployment.pk, deployment.instance_id))
    why = f"failed {failures} health check{'s' if failures > 1 else ''} in a row ({result.problem})"
    if deployment.unhealthy_since is None:
        current.routes_changed = True
        _event(
            current, deployment, HealthEvent.Kind.TAKEN_OUT, f"{why}: taken out of the ingress, restarting"
        )
    else:
        _event(current, deployment, HealthEvent.Kind.RESTARTED, f"{why} since its restart: restarting again")


def _event(current: Pass, deployment: Deployment, kind: str, detail: str) -> None:
    service = deployment.service
    text = f"{service.name}: deployment #{deployment.pk} {detail}"
    with transaction.atomic():
        HealthEvent.objects.create(service=service, deployment=deployment, kind=kind, detail=detail[:300])
        record(service.environment, None, "health", text)
    log.info("health: %s", text)
    current.events.append(text)


def _restart_later(restarts: list[tuple[int, str]]) -> None:
    from deployments.tasks import restart_unhealthy

    for deployment_id, instance_id in restarts:
        try:
            restart_unhealthy.apply_async(args=[deployment_id, instance_id], queue=settings.DEPLOY_QUEUE)
        except Exception:  # the broker is away: the next failed checks ask again
            log.exception("restart of deployment %s not sent", deployment_id)


def restart(deployment_id: int, instance_id: str) -> None:
    """The restart the monitor asked for, if that instance still serves its deployment."""
    close_old_connections()
    deployment = (
        Deployment.objects.filter(pk=deployment_id, instance_id=instance_id, state=State.RUNNING)
        .select_related("service")
        .first()
    )
    if deployment is None:
        return
    try:
        host_port = get_runtime().restart(instance_id)
    except PlatformError as exc:
        log.error("health: deployment %s was not restarted: %s", deployment_id, exc)
        return
    Deployment.objects.filter(pk=deployment_id, instance_id=instance_id).update(
        host_port=host_port, health_restarted_at=timezone.now()
    )
    grace = repo_config.health_check(deployment).grace_period
    HealthEvent.objects.create(
        service=deployment.service,
        deployment=deployment,
        kind=HealthEvent.Kind.RESTARTED,
        detail=f"restarted (SIGTERM, then SIGKILL after {grace} s if still running)",
    )
