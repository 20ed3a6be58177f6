"""What an owner uses of each limit of their plan, and which limits a deployment breaks."""

from collections.abc import Iterator
from datetime import timedelta

from django.utils import timezone

from billing.models import Plan
from deployments.models import Deployment, Service
from environments.models import Environment


def _live(queryset, prefix: str = ""):
    # Deleted environments keep their history but no longer count.
    if any(f.name == "deleted_at" for f in Environment._meta.get_fields()):
        return queryset.filter(**{f"{prefix}deleted_at__isnull": True})
    return queryset


def environments_of(owner):
    return _live(Environment.objects.filter(owner=owner))


def services_of(owner):
    return _live(Service.objects.filter(environment__owner=owner), "environment__")


def month_start(now=None):
    now = now or timezone.now()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def build_minutes(owner, exclude_id: int | None = None, now=None) -> float:
    """Minutes the owner's deployments took this month (running ones so far)."""
    now = now or timezone.now()
    rows = Deployment.objects.filter(
        service__environment__owner=owner, started_at__gte=month_start(now)
    ).exclude(pk=exclude_id)
    spent = timedelta()
    for started, finished in rows.values_list("started_at", "finished_at"):
        spent += (finished or now) - started
    return spent.total_seconds() / 60


def concurrent_builds(owner, exclude_id: int | None = None) -> int:
    return (
        Deployment.objects.filter(service__environment__owner=owner, state__in=Deployment.ACTIVE_STATES)
        .exclude(pk=exclude_id)
        .count()
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def refusals(plan: Plan, service, deployment, verdict, building: bool = True) -> Iterator[str]:
    """Each limit this deployment breaks, in words naming the limit; nothing when it may go.

    A deployment that runs an image already built (start, rollback, promote) is
    not held to the build limits: `building` is False and `deployment` None.
    """
    owner = service.environment.owner
    name = f"The {plan.name} plan"
    if plan.open_source_only and not verdict.qualifies:
        yield (
            f"{name} deploys public repositories with an OSI-approved license only, "
            f"and this one does not qualify: {verdict.reason}."
        )
    elif verdict.private and not plan.private_repositories:
        yield f"{name} does not include private repositories."
    # The oldest services and environments keep deploying; newer ones past the limit do not.
    older_services = services_of(owner).filter(pk__lt=service.pk).count()
    if older_services >= plan.max_services:
        yield (
            f"{name} allows {_plural(plan.max_services, 'service')}; "
            f"this would be service {older_services + 1}."
        )
    older_environments = environments_of(owner).filter(pk__lt=service.environment_id).count()
    if older_environments >= plan.max_environments:
        yield (
            f"{name} allows {_plural(plan.max_environments, 'environment')}; "
            f"{service.environment.name} is environment {older_environments + 1}."
        )
    if not building:
        return
    running = concurrent_builds(owner, exclude_id=deployment.pk)
    if running >= plan.max_concurrent_builds:
        yield (
            f"{name} allows {_plural(plan.max_concurrent_builds, 'concurrent build')} and "
            f"{running} {'is' if running == 1 else 'are'} running; deploy again when it is done."
        )
    used = build_minutes(owner, exclude_id=deployment.pk)
    if used >= plan.build_minutes_per_month:
        yield (
            f"{name} includes {_plural(plan.build_minutes_per_month, 'build minute')} a month "
            f"and {used:.0f} are used."
        )
