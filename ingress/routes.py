"""What the proxy serves, rebuilt from the database and loaded whole.

Every change (a deployment going live, a domain added or removed, a service
deleted) reloads the full table, read and loaded under one lock in Redis, so the
proxy always ends up with the newest state whichever process loads last; no
database transaction is held while the proxy reloads.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from deployments.errors import PlatformError
from deployments.models import Deployment, Service
from deployments.runtime import get_runtime
from ingress import proxy
from ingress.models import Domain, Hostname, RouteTable
from ingress.names import host_for
from portal import locks

log = logging.getLogger(__name__)


def _running(deployment: Deployment | None) -> bool:
    return (
        deployment is not None
        and deployment.state == Deployment.State.RUNNING
        and bool(deployment.instance_id)
    )


def sites(live: dict[int, Deployment] | None = None) -> list[proxy.Site]:
    """Every service with an address or a verified domain; `live` overrides a service's live deployment.

    The proxy reaches each instance at its address on its network, asked from the
    engine afresh each time: a restarted container may have another one.
    """
    live = live or {}
    labels = dict(Hostname.objects.values_list("service_id", "label"))
    domains: dict[int, list[str]] = {}
    # Only proven names (ingress/dns.py): no route, so no certificate, for any other.
    for service_id, name in Domain.objects.serving().values_list("service_id", "name"):
        domains.setdefault(service_id, []).append(name)
    services = Service.objects.filter(pk__in=set(labels) | set(domains)).select_related("live_deployment")
    deployments = {service.pk: live.get(service.pk, service.live_deployment) for service in services}
    running = {pk: d for pk, d in deployments.items() if _running(d)}
    addresses = get_runtime().addresses() if running else {}
    result = []
    for service in services.order_by("pk"):
        deployment = running.get(service.pk)
        # Failing its health checks: no request goes to it until it passes again.
        unhealthy = deployment is not None and deployment.unhealthy_since is not None
        upstream = addresses.get(deployment.instance_id) if deployment and not unhealthy else None
        result.append(
            proxy.Site(
                key=f"s{service.pk}",
                hosts=[host_for(labels[service.pk])] if service.pk in labels else [],
                domains=sorted(domains.get(service.pk, [])),
                upstream=upstream,
                down=deployment is not None and upstream is None and not unhealthy,
                unhealthy=unhealthy,
            )
        )
    return result


def sync(live: dict[int, Deployment] | None = None, *, draining: bool = False) -> None:
    """Load the whole table into the proxy; PlatformError when it cannot.

    `draining`: the upstreams being replaced keep serving for a drain period, so
    the proxy may still send them a new request for a moment after this returns.
    """
    with exclusive():
        load(live, draining=draining)


@contextmanager
def exclusive() -> Iterator[None]:
    """One loader at a time, on every machine, so the last to load read the newest state.

    A lock in Redis rather than a database transaction: the reload takes seconds,
    and no database lock may be held that long. Without Redis the load goes on
    unordered; the periodic sync puts right a stale table.
    """
    with locks.held("routes", timeout=settings.INGRESS_TIMEOUT * 3 + 30, wait=settings.INGRESS_TIMEOUT * 3):
        yield


def load(live: dict[int, Deployment] | None = None, *, draining: bool = False) -> None:
    """Read the table and load it; the caller holds exclusive()."""
    if not RouteTable.objects.filter(pk=1).update(generation=F("generation") + 1):
        RouteTable.objects.get_or_create(pk=1)
    proxy.apply(sites(live), draining=draining)
    RouteTable.objects.filter(pk=1).update(loaded_at=timezone.now())


def sync_later() -> None:
    """Have a worker load the routes once this transaction commits.

    What the web process calls: loading asks the engine for the instances'
    addresses, and only workers talk to the engine.
    """
    from ingress.tasks import load_routes

    transaction.on_commit(lambda: load_routes.apply_async(queue=settings.DEPLOY_QUEUE))


def sync_quietly() -> None:
    """On a worker, after a change: the periodic sync retries what fails here."""
    try:
        sync()
    except PlatformError as exc:
        log.error("the proxy's routes were not updated: %s", exc)


def point(service: Service, deployment: Deployment, *, draining: bool) -> None:
    """Send the service's traffic to this deployment's instance (called as it goes live,
    inside exclusive()).

    Read again from the database: the caller's copy predates the instance.
    `draining`: it replaces a running instance, removed only INGRESS_DRAIN_SECONDS later, so a
    request the old configuration still takes for a moment is served. Without one (a first
    deployment, a start), the old configuration would answer "no service" or "not running".
    """
    going_live = Deployment.objects.get(pk=deployment.pk)
    going_live.state = Deployment.State.RUNNING  # committed only once the proxy has loaded
    load(live={service.pk: going_live}, draining=draining)


def remove(service: Service) -> None:
    """The service is going away: release its address and domains, and stop serving them."""
    with transaction.atomic():
        Domain.objects.filter(service=service).delete()
        Hostname.objects.filter(service=service).delete()
    sync()
