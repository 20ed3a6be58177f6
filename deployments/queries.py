"""Questions the dashboard and the API both ask, answered once so they never disagree."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery

from deployments.actions import ActionError
from deployments.models import Deployment, Service
from environments.access import DEPLOY, environments_for
from environments.actions import get_or_create_environment
from environments.models import Environment, slug_validator

State = Deployment.State

# The states a deployment can be rolled back to: it ran, and its image may still be kept.
ROLLBACK_STATES = (State.SUPERSEDED, State.STOPPED)


@dataclass(frozen=True)
class ServiceState:
    """What a service is doing, named once for the dashboard, the API and the CLI.

    The state is the live deployment's (what answers at the address), else the
    newest one's; a newer deployment that is not live is said beside it, so
    "running" never hides a failed redeploy and "failed" never hides what serves.
    """

    state: str | None  # None: never deployed
    deployment: int | None  # whose state that is
    newest: int | None
    newest_state: str | None

    @property
    def pending(self) -> str:
        """The newest deployment, when it is not the one whose state is shown."""
        if self.newest is None or self.newest == self.deployment:
            return ""
        if self.newest_state == State.QUEUED or self.newest_state in Deployment.ACTIVE_STATES:
            return f"deploying #{self.newest} ({self.newest_state})"
        return f"#{self.newest} {self.newest_state}"

    @property
    def text(self) -> str:
        if self.state is None:
            return "not deployed"
        shown = f"{self.state} (deployment #{self.deployment})"
        return f"{shown}, {self.pending}" if self.pending else shown


def with_newest(services: QuerySet[Service]) -> QuerySet[Service]:
    """Services with their newest deployment's id and state, in the same query."""
    newest = Deployment.objects.filter(service=OuterRef("pk")).order_by("-id")
    return services.annotate(
        newest_id=Subquery(newest.values("pk")[:1]),
        newest_state=Subquery(newest.values("state")[:1]),
    )


def service_state(service: Service) -> ServiceState:
    """The service's state; `with_newest` spares a query per service in a list."""
    if hasattr(service, "newest_id"):
        newest = (service.newest_id, service.newest_state)
    else:
        newest = service.deployments.order_by("-id").values_list("pk", "state").first() or (None, None)
    live = service.live_deployment
    if live is not None:
        return ServiceState(live.state, live.pk, *newest)
    return ServiceState(newest[1], newest[0], *newest)


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
