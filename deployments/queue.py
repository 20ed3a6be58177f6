"""Where a queued deployment stands in the line for a worker."""

from deployments.models import Deployment


def position(deployment: Deployment) -> int | None:
    """1 for the next one to be picked up; None when it is not queued."""
    if deployment.state != Deployment.State.QUEUED:
        return None
    return Deployment.objects.filter(state=Deployment.State.QUEUED, pk__lt=deployment.pk).count() + 1


def positions() -> dict[int, int]:
    """The position of every queued deployment, in one query."""
    queued = (
        Deployment.objects.filter(state=Deployment.State.QUEUED).order_by("pk").values_list("pk", flat=True)
    )
    return {pk: number for number, pk in enumerate(queued, start=1)}
