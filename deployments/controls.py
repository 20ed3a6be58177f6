"""Actions on a service's instances: stop, start, restart, rollback, cancel, promote.

Like deployments.actions, every one of them is the single way the dashboard,
the API and the CLI do the thing; callers check permissions first. They write
the desired state and leave the engine to a worker (the web process never talks
to it): a stop or a deletion is carried out by a task sharing the reconciler's
code, and redone by the reconciler should that task fail.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.quotas import QuotaExceeded, check_rerun
from deployments import logs
from deployments.actions import ActionError, converge_later, request_deploy
from deployments.models import Deployment, Instance, Service
from deployments.service_copy import settings_for_copy
from environments.actions import record

log = logging.getLogger(__name__)
State = Deployment.State


def _queue_image(service: Service, earlier: Deployment, user) -> Deployment:
    try:  # start, rollback and promote ask billing what a build asks, and hear the same answer
        check_rerun(service, earlier)
    except QuotaExceeded as exc:
        raise ActionError(str(exc)) from None
    # Whether the image is still on the engine the worker finds out (a pruned one has no tag here).
    if not earlier.image:
        raise ActionError(f"Deployment #{earlier.pk} has no image to run again; deploy again to rebuild.")
    return request_deploy(service, user, source=earlier, audited=False)  # the caller records what it does


@transaction.atomic
def rollback(service: Service, earlier: Deployment, user) -> Deployment:
    """Run an earlier deployment's image again, health-gated like any deployment."""
    if earlier.service_id != service.pk:
        raise ActionError("That deployment belongs to another service.")
    if earlier == service.live_deployment and earlier.state == State.RUNNING:
        raise ActionError(f"Deployment #{earlier.pk} is already the one running.")
    deployment = _queue_image(service, earlier, user)
    record(service.environment, user, "rollback", f"{service.name} to #{earlier.pk}")
    return deployment


@transaction.atomic
def apply_variables(service: Service, user) -> Deployment:
    """Run what runs now again with the variables as they are now, health-gated.

    Variables reach an instance when it starts, so no rebuild is needed: the image
    that serves (a rolled-back one too) starts again. With nothing running, it deploys.
    """
    live = service.live_deployment
    if live is None or live.state != State.RUNNING or not live.image:
        return request_deploy(service, user)
    deployment = _queue_image(service, live, user)
    record(service.environment, user, "redeploy", f"{service.name} with its variables as they are now")
    return deployment


@transaction.atomic
def stop(service: Service, user, reason: str = "") -> Deployment | None:
    """Stop the running instance; the service stays, ready to start again.

    The address answers "not running" and the instance is removed by a worker,
    right after the commit.
    """
    live = service.live_deployment
    if live is None or live.state != State.RUNNING:
        raise ActionError(f"{service.name} is not running.")
    moved = Deployment.objects.filter(pk=live.pk, state=State.RUNNING).update(state=State.STOPPED)
    if not moved:
        raise ActionError(f"{service.name} is not running.")
    live.state = State.STOPPED
    logs.BuildLog(live).write(f"==> Stopped{': ' + reason if reason else ''}")
    logs.publish(live.pk, {"state": State.STOPPED})
    record(service.environment, user, "stop", service.name + (f" ({reason})" if reason else ""))
    converge_later(service_id=service.pk)
    return live


@transaction.atomic
def start(service: Service, user) -> Deployment:
    """Start a stopped service from the image it last ran, without rebuilding."""
    live = service.live_deployment
    if live is not None and live.state == State.RUNNING:
        raise ActionError(f"{service.name} is already running.")
    earlier = (
        service.deployments.filter(state__in=(State.STOPPED, State.SUPERSEDED)).exclude(image="").first()
    )
    if earlier is None:
        raise ActionError(f"{service.name} has never run; deploy it first.")
    deployment = _queue_image(service, earlier, user)
    record(service.environment, user, "start", service.name)
    return deployment


@transaction.atomic
def restart(service: Service, user) -> Deployment | None:
    """Restart the running instance, by a worker right after the commit; a stopped service starts."""
    from deployments.tasks import restart as restart_task

    live = service.live_deployment
    if live is None or live.state != State.RUNNING:
        return start(service, user)
    record(service.environment, user, "restart", service.name)
    args = [service.pk, live.instance_id]
    transaction.on_commit(lambda: restart_task.apply_async(args=args, queue=settings.DEPLOY_QUEUE))
    return None


def restart_instance(service_id: int, instance_id: str) -> None:
    """The worker's half of restart(): only if that instance still serves the service."""
    from deployments import replicas
    from deployments.runtime import get_runtime
    from ingress.routes import sync_quietly

    live = Service.objects.filter(pk=service_id).values_list(
        "live_deployment__state", "live_deployment__instance_id"
    )
    if list(live) != [(State.RUNNING, instance_id)]:
        log.info("restart of service %s skipped: its instance changed meanwhile", service_id)
        return
    live = Service.objects.select_related("live_deployment__service").get(pk=service_id).live_deployment
    if len(replicas.web_rows(live.pk, serving_only=True)) > 1:
        replicas.restart_in_turn(get_runtime(), live)  # no request lost: each drained first
    else:
        host_port = get_runtime().restart(instance_id)
        # Published again at start: the port on the host may be another one now.
        Deployment.objects.filter(instance_id=instance_id).update(host_port=host_port)
        Instance.objects.filter(process__deployment=live, container_id=instance_id).update(
            host_port=host_port
        )
    _restart_other_processes(live)
    sync_quietly()  # a restarted container may come back at another address on its network


def _restart_other_processes(live: Deployment) -> None:
    """The worker, clock, ... instances restart with the web, as `heroku restart` restarts every dyno."""
    from deployments.runtime import get_runtime

    rows = (
        Instance.objects.filter(process__deployment=live)
        .exclude(container_id="")
        .exclude(process__name="web")
    )
    for row in rows.exclude(state=Instance.State.DRAINING):
        get_runtime().restart(row.container_id)


def cancel(deployment: Deployment, user) -> None:
    """Stop a deployment that has not gone live; the worker clears what it made."""
    now = timezone.now()
    with transaction.atomic():
        moved = Deployment.objects.filter(pk=deployment.pk, state=State.QUEUED).update(
            state=State.CANCELLED, finished_at=now, log_complete=True, failure_reason="Cancelled."
        )
        if not moved:
            moved = Deployment.objects.filter(pk=deployment.pk, state__in=Deployment.ACTIVE_STATES).update(
                state=State.CANCELLED, finished_at=now, failure_reason="Cancelled."
            )
        if not moved:
            raise ActionError(f"Deployment #{deployment.pk} is {deployment.state} and cannot be cancelled.")
        record(deployment.service.environment, user, "cancel", f"deployment #{deployment.pk}")
    logs.publish(deployment.pk, {"state": State.CANCELLED})


@transaction.atomic
def promote(deployment: Deployment, target_environment, user) -> Deployment:
    """Run a deployment's image in another environment, without rebuilding."""
    if deployment.state != State.RUNNING:
        raise ActionError("Only a running deployment can be promoted.")
    source_service = deployment.service
    if target_environment.pk == source_service.environment_id:
        raise ActionError("Pick another environment to promote to.")
    service = Service.objects.filter(environment=target_environment, name=source_service.name).first()
    if service is None:
        service = Service.objects.create(
            environment=target_environment,
            name=source_service.name,
            **settings_for_copy(source_service, target_environment.pk),
        )
    promoted = _queue_image(service, deployment, user)
    record(
        target_environment, user, "promote",
        f"{service.name} #{deployment.pk} from {source_service.environment.name}",
    )  # fmt: skip
    return promoted


def delete_service(service: Service, user) -> None:
    """Remove the service: its row, with its deployments and logs; a worker then removes its
    instances and images.

    Refused while a deployment is being built or started, since its worker would
    go on making containers for a service that no longer exists. The
    environment's events keep the record that the service existed.
    """
    now = timezone.now()
    with transaction.atomic():
        service.deployments.filter(state=State.QUEUED).update(
            state=State.CANCELLED,
            finished_at=now,
            log_complete=True,
            failure_reason="The service was deleted.",
        )
        if service.deployments.filter(state__in=Deployment.ACTIVE_STATES).exists():
            raise ActionError(
                f"{service.name} is being deployed; cancel that deployment or wait for it first."
            )
        record(service.environment, user, "delete", f"service {service.name}")
        converge_later(service_id=service.pk)
        service.delete()
