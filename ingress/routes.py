"""What the proxy serves, rebuilt from the database and loaded whole.

Every change (a deployment going live, a domain added or removed, a service
deleted) reloads the full table, read under a lock, so the proxy always ends
up with the newest state whichever process loads last.
"""

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from deployments.errors import PlatformError
from deployments.models import Deployment, Service
from ingress import proxy
from ingress.models import Domain, Hostname, RouteTable
from ingress.names import host_for

log = logging.getLogger(__name__)


def upstream_of(deployment: Deployment | None) -> str | None:
    if deployment is None or deployment.state != Deployment.State.RUNNING or not deployment.host_port:
        return None
    return f"127.0.0.1:{deployment.host_port}"


def sites(live: dict[int, Deployment] | None = None) -> list[proxy.Site]:
    """Every service with an address or a verified domain; `live` overrides a service's live deployment."""
    live = live or {}
    labels = dict(Hostname.objects.values_list("service_id", "label"))
    domains: dict[int, list[str]] = {}
    verified = Domain.objects.filter(verified_at__isnull=False)
    for service_id, name in verified.values_list("service_id", "name"):
        domains.setdefault(service_id, []).append(name)
    services = Service.objects.filter(pk__in=set(labels) | set(domains)).select_related("live_deployment")
    return [
        proxy.Site(
            key=f"s{service.pk}",
            hosts=[host_for(labels[service.pk])] if service.pk in labels else [],
            domains=sorted(domains.get(service.pk, [])),
            upstream=upstream_of(live.get(service.pk, service.live_deployment)),
        )
        for service in services.order_by("pk")
    ]


def sync(live: dict[int, Deployment] | None = None) -> None:
    """Load the whole table into the proxy; PlatformError when it cannot."""
    with transaction.atomic():
        if not RouteTable.objects.filter(pk=1).update(generation=F("generation") + 1):
            RouteTable.objects.get_or_create(pk=1)
            RouteTable.objects.filter(pk=1).update(generation=F("generation") + 1)
        proxy.apply(sites(live))
        RouteTable.objects.filter(pk=1).update(loaded_at=timezone.now())


def sync_quietly() -> None:
    """For after a commit in a web request: the periodic sync retries what fails here."""
    try:
        sync()
    except PlatformError as exc:
        log.error("the proxy's routes were not updated: %s", exc)


def point(service: Service, deployment: Deployment) -> None:
    """Send the service's traffic to this deployment's instance (called as it goes live).

    Read again from the database: the caller's copy predates the host port and the running state.
    """
    sync(live={service.pk: Deployment.objects.get(pk=deployment.pk)})


def remove(service: Service) -> None:
    """The service is going away: release its address and domains, and stop serving them."""
    with transaction.atomic():
        Domain.objects.filter(service=service).delete()
        Hostname.objects.filter(service=service).delete()
    sync()
