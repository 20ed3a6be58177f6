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
from deployments.models import Deployment, Instance, Service
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

    A service's upstreams are its web replicas in the ingress (Instance.routed): the live
    deployment's, and during a rolling update those of the new deployment that passed their
    health check. The proxy reaches each at its address on its network, asked from the
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
    replicas = _routed_replicas(running)
    addresses = get_runtime().addresses() if running else {}
    result = []
    for service in services.order_by("pk"):
        deployment = running.get(service.pk)
        # A replica failing its health checks gets no request until it passes again; with
        # every replica out, the address says so.
        routed, out = replicas.get(service.pk, ([], 0))
        upstreams = [addresses[i] for i in routed if i in addresses]
        unhealthy = deployment is not None and not routed and out > 0
        result.append(
            proxy.Site(
                key=f"s{service.pk}",
                hosts=[host_for(labels[service.pk])] if service.pk in labels else [],
                domains=sorted(domains.get(service.pk, [])),
                upstreams=upstreams,
                down=deployment is not None and not upstreams and not unhealthy,
                unhealthy=unhealthy,
            )
        )
    return result


def _routed_replicas(running: dict[int, Deployment]) -> dict[int, tuple[list[str], int]]:
    """{service id: ([container id of each web replica in the ingress], replicas out as unhealthy)}."""
    if not running:
        return {}
    rolling = Deployment.objects.filter(service_id__in=list(running), state=Deployment.State.STARTING)
    owners = {d.pk: service_id for service_id, d in running.items()}
    owners.update(dict(rolling.values_list("pk", "service_id")))
    found: dict[int, tuple[list[str], int]] = {}
    rows = Instance.objects.filter(process__name="web", process__deployment_id__in=list(owners)).values_list(
        "process__deployment_id", "container_id", "routed", "unhealthy_since"
    )
    described = set()
    for deployment_id, container_id, routed, unhealthy_since in rows.order_by(
        "process__deployment_id", "index"
    ):
        described.add(deployment_id)
        ids, out = found.setdefault(owners[deployment_id], ([], 0))
        if unhealthy_since is not None:
            found[owners[deployment_id]] = (ids, out + 1)
        elif routed and container_id:
            ids.append(container_id)
    # A deployment from before replicas were recorded: its one instance.
    for service_id, deployment in running.items():
        if deployment.pk not in described:
            if deployment.unhealthy_since is None:
                found.setdefault(service_id, ([], 0))[0].append(deployment.instance_id)
            else:
                found[service_id] = ([], 1)
    return found


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
    # Its replicas all passed their health check; should the switch not commit, the
    # deployment is not live, and its replicas in no route.
    Instance.objects.filter(process__deployment=going_live, process__name="web").exclude(
        state=Instance.State.DRAINING
    ).update(routed=True)
    load(live={service.pk: going_live}, draining=draining)


def remove(service: Service) -> None:
    """The service is going away: release its address and domains, and stop serving them."""
    with transaction.atomic():
        Domain.objects.filter(service=service).delete()
        Hostname.objects.filter(service=service).delete()
    sync()
