"""Every change of a service or deployment goes through here: views, commands,
webhooks and tasks call the same functions, so they can never disagree."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments import logs, webhooks
from deployments.errors import PlatformError
from deployments.models import Deployment, Service, WebhookDelivery
from deployments.service_copy import settings_for_copy
from deployments.source import (
    InvalidSource,
    check_upload_owner,
    validate_branch,
    validate_repository_url,
    validate_subdirectory,
)
from environments.actions import get_or_create_environment
from environments.audit import changes_of, record
from environments.models import Environment, slug_validator
from ingress import addresses

log = logging.getLogger(__name__)
State = Deployment.State


# A service's settings whose changes the audit log records, before and after.
SETTINGS = (
    "repository_url", "branch", "subdirectory", "port", "start_command", "build_command", "predeploy_command",
)  # fmt: skip


class ActionError(Exception):
    """A request that cannot be carried out, in words for the person who made it."""


class NeedsConfirmation(ActionError):
    """A request that would change more than the person may expect: asked again, confirmed, it goes."""


def enqueue(deployment_id: int, countdown: float = 0) -> None:
    """Send the deployment's task. When the broker cannot take it, the deployment stays
    queued and the reaper sends it again later: a request never fails for that."""
    from deployments.tasks import deploy

    try:
        deploy.apply_async(args=[deployment_id], countdown=countdown, queue=settings.DEPLOY_QUEUE)
    except Exception:  # kombu raises many kinds; all mean "not sent now"
        log.exception("deployment %s not sent to the queue; the reaper sends it again", deployment_id)


def converge_later(*, service_id: int | None = None, environment_id: int | None = None) -> None:
    """After the commit, a worker makes the engine match what was just written (stop, delete).

    Should the task be lost or fail, the periodic reconciler does the same work.
    """
    from deployments.tasks import converge

    def send() -> None:
        try:
            converge.apply_async(
                kwargs={"service_id": service_id, "environment_id": environment_id},
                queue=settings.DEPLOY_QUEUE,
            )
        except Exception:  # as above
            log.exception("converge task not sent; the periodic reconciler does its work")

    transaction.on_commit(send)


def _clean_source(url: str, branch: str, subdirectory: str) -> tuple[str, str, str]:
    try:
        return (
            validate_repository_url(url),
            # No branch: the remote's default (its HEAD), asked for at the first clone.
            validate_branch(branch) if branch else "",
            validate_subdirectory(subdirectory or ""),
        )
    except InvalidSource as exc:
        raise ActionError(str(exc)) from None


def _clean_name(name: str) -> str:
    try:
        slug_validator(name)
    except ValidationError:
        raise ActionError(
            f"{name!r} is not a valid service name: use 1 to 30 lowercase letters, digits "
            "and dashes, starting with a letter."
        ) from None
    return name


@transaction.atomic
def deploy_repository(
    user,
    *,
    name: str,
    repository_url: str,
    branch: str = "",
    subdirectory: str = "",
    environment: "str | Environment" = "production",
    port: int | None = None,
    start_command: str | None = None,
    build_command: str | None = None,
    predeploy_command: str | None = None,
    replace: bool = True,
) -> Deployment:
    """Create the service (or update where it comes from) and deploy it.

    `environment` is one of the user's own by name (created when missing), or
    an Environment the caller has checked the user may deploy into. With
    `replace` false, a service of that name deploying another repository is
    left alone and NeedsConfirmation says so.
    """
    name = _clean_name(name.strip())
    url, branch, subdirectory = _clean_source(repository_url, branch, subdirectory)
    if isinstance(environment, Environment):
        env = environment
    else:
        try:
            slug_validator(environment)
        except ValidationError:
            raise ActionError(f"{environment!r} is not a valid environment name.") from None
        env = get_or_create_environment(user, environment)
    try:
        check_upload_owner(url, env.pk, name)
    except InvalidSource as exc:
        raise ActionError(str(exc)) from None
    service, created = Service.objects.select_for_update().get_or_create(
        environment=env,
        name=name,
        defaults={"repository_url": url, "branch": branch, "subdirectory": subdirectory},
    )
    if not created and service.repository_url != url and not replace:
        raise NeedsConfirmation(
            f"{env.name} already has a service called {name}, deployed from {service.repository_url}. "
            f"Deploying {url} replaces it."
        )
    if not created:
        service.repository_url, service.branch, service.subdirectory = url, branch, subdirectory
        # A pasted URL is cloned without a token; picking from GitHub sets these again.
        service.github_repository, service.is_private = "", False
    if port is not None:
        if not 1 <= port <= 65535:
            raise ActionError("The port must be between 1 and 65535.")
        service.port = port
    set_commands(service, start=start_command, build=build_command, predeploy=predeploy_command)
    # The row still holds the old settings: what this deploy changes goes in its audit record.
    before = Service.objects.filter(pk=service.pk).values(*SETTINGS).first() if not created else None
    service.save()
    return request_deploy(service, user, changes=changes_of(before, service, SETTINGS))


def set_commands(
    service: Service, *, start: str | None = None, build: str | None = None, predeploy: str | None = None
) -> None:
    """Set the service's own commands (None leaves one as it is, "" clears it); the caller saves."""
    for field, what, value in (
        ("start_command", "start command", start),
        ("build_command", "build command", build),
        ("predeploy_command", "pre-deploy command", predeploy),
    ):
        if value is None:
            continue
        value = value.strip()
        if len(value) > 1000 or any(c in value for c in "\r\n\0"):
            raise ActionError(f"The {what} must be one line of at most 1000 characters.")
        setattr(service, field, value)


@transaction.atomic
def request_deploy(
    service: Service, user=None, source: Deployment | None = None, *, audited: bool = True,
    changes: dict | None = None,
) -> Deployment:  # fmt: skip
    """Queue a deployment of the service's branch; older queued ones give way to it.

    With `source`, the deployment runs that earlier deployment's image instead
    of building (rollback, start, promote). Callers that write an audit record of
    their own (rollback, start, promote, copying an environment) pass `audited=False`.
    """
    if service.environment.is_deleted:
        raise ActionError(f"The environment {service.environment.name} was deleted.")
    # Given as the service was made (ingress/signals.py); a service older than that gets one now.
    addresses.assign(service)
    now = timezone.now()
    deployment = Deployment.objects.create(
        service=service,
        requested_by=user,
        branch=source.branch if source else service.branch,
        created_at=now,
        source=source,
    )
    Deployment.objects.filter(service=service, state=State.QUEUED).exclude(pk=deployment.pk).update(
        state=State.SUPERSEDED,
        finished_at=now,
        log_complete=True,
        failure_reason="A newer deployment was requested.",
    )
    if audited:
        branch = deployment.branch or "its default branch"
        record(service.environment, user, "deploy", f"{service.name} from {branch}", changes=changes)
    transaction.on_commit(lambda: enqueue(deployment.pk))
    return deployment


@transaction.atomic
def receive_webhook(
    service: Service, *, delivery_id: str, event: str, payload: dict
) -> tuple[WebhookDelivery, bool]:
    """Act on a verified delivery from GitHub, once per delivery id.

    Returns the delivery's record and whether this call made it: a redelivery,
    or a second request racing the first, finds the record and does nothing.
    A push to the tracked branch queues a deployment; anything else is recorded
    as ignored.
    """
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                delivery_id=delivery_id, service=service, event=event[:50]
            )
    except IntegrityError:
        # On Postgres a concurrent insert of the same id waits for the first
        # transaction, so by now its row is committed and can be read.
        return WebhookDelivery.objects.get(delivery_id=delivery_id), False
    outcome, deploy = _decide(service, event, payload)
    delivery.outcome = outcome[:200]
    if deploy:
        if not service.branch:  # it follows the default branch, which this push just named
            service.branch = webhooks.push_of(payload).branch
            service.save(update_fields=["branch"])
        delivery.deployment = request_deploy(service, user=None)
    delivery.save(update_fields=["outcome", "deployment"])
    return delivery, True


def _decide(service: Service, event: str, payload: dict) -> tuple[str, bool]:
    """What a delivery means for the service, in words, and whether to deploy."""
    if event == "ping":
        return "ping", False
    if event != "push":
        return f"ignored: {event} event", False
    push = webhooks.push_of(payload)
    if push.branch is None:
        return (f"ignored: tag {push.tag}" if push.tag else f"ignored: push to {push.ref or 'no ref'}"), False
    if push.deleted:
        return f"ignored: branch {push.branch} deleted", False
    # A service that follows the default branch and was never cloned yet: the push says which it is.
    repository = payload.get("repository") if isinstance(payload.get("repository"), dict) else {}
    tracked = service.branch or webhooks.text_of(repository.get("default_branch"))
    if push.branch != tracked:
        return f"ignored: push to branch {push.branch}", False
    return f"deploying {push.after[:12] or 'the head'} of {push.branch}", True


def reap_stale_deployments(stale_after: int | None = None) -> list[int]:
    """Fail deployments whose worker stopped beating, and clear what they left.

    Also re-sends deployments that sat queued too long, in case their task was
    lost (the claim in the pipeline makes a second delivery harmless), and
    removes superseded instances whose retirement task was lost.
    """
    from deployments.runtime import get_runtime

    stale_after = stale_after if stale_after is not None else settings.STALE_AFTER
    now = timezone.now()
    reaped = []
    stale = Deployment.objects.filter(
        state__in=Deployment.ACTIVE_STATES, heartbeat_at__lt=now - timedelta(seconds=stale_after)
    )
    reason = "The worker running this deployment stopped unexpectedly. Deploy again to retry."
    for deployment in stale:
        failed = Deployment.objects.filter(pk=deployment.pk, state=deployment.state).update(
            state=State.FAILED, failure_reason=reason, finished_at=now
        )
        if not failed:
            continue
        reaped.append(deployment.pk)
        build_log = logs.BuildLog(deployment)
        build_log.write(f"==> Deployment failed: {reason}")
        Deployment.objects.filter(pk=deployment.pk).update(log_size=build_log.size, log_complete=True)
        logs.publish(deployment.pk, {"state": State.FAILED, "complete": True})
        try:
            runtime = get_runtime()
            runtime.remove_deployment(deployment.pk)
            if deployment.image and not deployment.reuses_image:  # a reused image is another's
                runtime.remove_image(deployment.image)
            runtime.remove_network(deployment.service.environment_id)
        except PlatformError as exc:
            log.error("could not clear deployment %s: %s", deployment.pk, exc)
    from deployments.pipeline import retire_overdue

    try:
        retire_overdue(late_after=stale_after)
    except PlatformError as exc:
        log.error("could not retire superseded instances: %s", exc)
    resend_lost(now)
    return reaped


def resend_lost(now) -> None:
    """Send again a queued deployment whose task seems lost, each time waiting twice as
    long; after DEPLOY_MAX_RETRIES sends, fail it, so `--wait` and the dashboard see an end."""
    base = settings.QUEUED_RESEND_AFTER
    queued = Deployment.objects.filter(state=State.QUEUED, enqueued_at__lt=now - timedelta(seconds=base))
    for deployment in queued.only("pk", "enqueued_at", "resends")[:500]:
        if deployment.enqueued_at > now - timedelta(seconds=base * 2**deployment.resends):
            continue
        if deployment.resends >= settings.DEPLOY_MAX_RETRIES:
            _give_up(deployment, now)
            continue
        sent = Deployment.objects.filter(
            pk=deployment.pk, state=State.QUEUED, resends=deployment.resends
        ).update(resends=deployment.resends + 1, enqueued_at=now)
        if sent:
            log.warning("deployment %s sat queued; sending it again", deployment.pk)
            enqueue(deployment.pk)


def _give_up(deployment: Deployment, now) -> None:
    reason = (
        f"No worker took this deployment after it was sent {deployment.resends + 1} times. "
        "The operator has been told; deploy again later."
    )
    failed = Deployment.objects.filter(pk=deployment.pk, state=State.QUEUED).update(
        state=State.FAILED, failure_reason=reason, finished_at=now
    )
    if not failed:
        return
    log.error("deployment %s was never taken by a worker; failed", deployment.pk)
    build_log = logs.BuildLog(deployment)
    build_log.write(f"==> Deployment failed: {reason}")
    Deployment.objects.filter(pk=deployment.pk).update(log_size=build_log.size, log_complete=True)
    logs.publish(deployment.pk, {"state": State.FAILED, "complete": True})


def copy_services(source, target, user) -> list[Deployment]:
    """Copy every service of `source` (where it comes from, its variables) into `target`, and deploy."""
    from deployments.variables import copy_variables
    from environments.access import ADMIN, can

    with_secrets = can(user, source, ADMIN)
    deployments = []
    for original in Service.objects.filter(environment=source).order_by("name"):
        service = Service.objects.create(
            environment=target, name=original.name, **settings_for_copy(original, target.pk)
        )
        copy_variables(original, service, with_secrets=with_secrets)
        deployments.append(request_deploy(service, user, audited=False))
    return deployments


def retire_environment(environment) -> None:
    """Cancel what is in flight and stop what runs; a worker then removes the containers and
    the network (and the reconciler does, should that fail)."""
    now = timezone.now()
    with transaction.atomic():
        deployments = Deployment.objects.filter(service__environment=environment)
        deployments.filter(state=State.QUEUED).update(
            state=State.CANCELLED,
            finished_at=now,
            log_complete=True,
            failure_reason="The environment was deleted.",
        )
        deployments.filter(state__in=Deployment.ACTIVE_STATES).update(
            state=State.CANCELLED, finished_at=now, failure_reason="The environment was deleted."
        )
        deployments.filter(state=State.RUNNING).update(state=State.STOPPED)
        converge_later(environment_id=environment.pk)
