"""Questions the dashboard and the API both ask, answered once so they never disagree."""

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from deployments.actions import ActionError
from deployments.models import Deployment, Service
from environments.access import DEPLOY, environments_for
from environments.actions import get_or_create_environment
from environments.models import Environment, slug_validator

State = Deployment.State

# The states a deployment can be rolled back to: it ran, and its image may still be kept.
ROLLBACK_STATES = (State.SUPERSEDED, State.STOPPED)


def rollback_candidates(service: Service) -> QuerySet[Deployment]:
    """Deployments whose image can run again, newest first; a pruned image clears `image`."""
    return (
        service.deployments.filter(state__in=ROLLBACK_STATES)
        .exclude(image="")
        .exclude(pk=service.live_deployment_id)
        .order_by("-id")
    )


def rollback_targets(service: Service, deployments: list[Deployment]) -> set[int]:
    """Which of `deployments` get a "Roll back to this"."""
    ids = [d.pk for d in deployments]
    return set(rollback_candidates(service).filter(pk__in=ids).values_list("pk", flat=True))


def default_rollback_target(service: Service) -> Deployment:
    """The one before the live one: what a rollback without a number runs."""
    earlier = rollback_candidates(service).first()
    if earlier is None:
        raise ActionError(f"{service.name} has no earlier deployment to roll back to.")
    return earlier


def target_environment(user, name: str) -> Environment:
    """The environment a name means to this user: their own, else one shared with them
    where they may deploy, else a new one of their own by that name."""
    try:
        slug_validator(name)
    except ValidationError:
        raise ActionError(f"{name!r} is not a valid environment name.") from None
    mine = Environment.objects.filter(owner=user, name=name, deleted_at__isnull=True).first()
    if mine is not None:
        return mine
    shared = environments_for(user, DEPLOY).filter(name=name, deleted_at__isnull=True).order_by("id").first()
    return shared or get_or_create_environment(user, name)


def deploy_targets(user) -> QuerySet[Environment]:
    """The environments a person may pick to deploy into: theirs and those shared with them."""
    return environments_for(user, DEPLOY).filter(deleted_at__isnull=True).order_by("name", "id")
