"""Actions on a service's instances: stop, start, restart, rollback, cancel, promote.

Like deployments.actions, every one of them is the single way the dashboard,
the API and the CLI do the thing; callers check permissions first.
"""

from django.db import transaction
from django.utils import timezone

from deployments import logs
from deployments.actions import ActionError, request_deploy
from deployments.models import Deployment, Service
from deployments.runtime import get_runtime
from environments.actions import record

State = Deployment.State


def _reload_routes() -> None:
    from ingress.routes import sync_quietly

    sync_quietly()


def _queue_image(service: Service, earlier: Deployment, user) -> Deployment:
    if not earlier.image:
        raise ActionError(f"Deployment #{earlier.pk} has no image to run again; deploy again to rebuild.")
    if not get_runtime().image_exists(earlier.image):
        raise ActionError(f"The image of deployment #{earlier.pk} no longer exists; deploy again to rebuild.")
    return request_deploy(service, user, source=earlier)


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


def stop(service: Service, user, reason: str = "") -> Deployment | None:
    """Remove the running instance; the service stays, ready to start again."""
    live = service.live_deployment
    if live is None or live.state != State.RUNNING:
        raise ActionError(f"{service.name} is not running.")
    moved = Deployment.objects.filter(pk=live.pk, state=State.RUNNING).update(
        state=State.STOPPED, retired_at=timezone.now()
    )
    if not moved:
        raise ActionError(f"{service.name} is not running.")
    _reload_routes()  # the address now answers "not running" before the instance goes
    get_runtime().remove(live.instance_id)
    logs.BuildLog(live).write(f"==> Stopped{': ' + reason if reason else ''}")
    logs.publish(live.pk, {"state": State.STOPPED})
    record(service.environment, user, "stop", service.name + (f" ({reason})" if reason else ""))
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


def restart(service: Service, user) -> None:
    live = service.live_deployment
    if live is None or live.state != State.RUNNING:
        raise ActionError(f"{service.name} is not running.")
    get_runtime().restart(live.instance_id)
    _reload_routes()  # a restarted container may come back at another address on its network
    record(service.environment, user, "restart", service.name)


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
    service, _ = Service.objects.get_or_create(
        environment=target_environment,
        name=source_service.name,
        defaults={
            "repository_url": source_service.repository_url,
            "branch": source_service.branch,
            "subdirectory": source_service.subdirectory,
            "port": source_service.port,
            "github_repository": source_service.github_repository,
            "is_private": source_service.is_private,
        },
    )
    promoted = _queue_image(service, deployment, user)
    record(
        target_environment, user, "promote",
        f"{service.name} #{deployment.pk} from {source_service.environment.name}",
    )  # fmt: skip
    return promoted


def delete_service(service: Service, user) -> None:
    """Remove the service: its instance, its images and its row, with its deployments and logs.

    Refused while a deployment is being built or started, since its worker would
    go on making containers for a service that no longer exists. The
    environment's events keep the record that the service existed.
    """
    now = timezone.now()
    service.deployments.filter(state=State.QUEUED).update(
        state=State.CANCELLED, finished_at=now, log_complete=True, failure_reason="The service was deleted."
    )
    if service.deployments.filter(state__in=Deployment.ACTIVE_STATES).exists():
        raise ActionError(f"{service.name} is being deployed; cancel that deployment or wait for it first.")
    runtime = get_runtime()
    for deployment in service.deployments.exclude(instance_id=""):
        runtime.remove_deployment(deployment.pk)
    runtime.prune_images(service.pk, keep=set())
    with transaction.atomic():
        record(service.environment, user, "delete", f"service {service.name}")
        service.delete()
