"""Services and deployments as the person asking may see or touch them."""

from django.db.models import QuerySet

from deployments.models import Deployment, Service
from environments.access import VIEW, environments_for


def services_for(user, need: str = VIEW) -> QuerySet[Service]:
    return Service.objects.filter(environment__in=environments_for(user, need)).select_related(
        "environment", "live_deployment", "ingress_hostname"
    )


def deployments_for(user, need: str = VIEW) -> QuerySet[Deployment]:
    return Deployment.objects.filter(service__environment__in=environments_for(user, need)).select_related(
        "service__environment"
    )
