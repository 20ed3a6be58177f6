"""Every change of a service's custom domains goes through here (its address: ingress/addresses.py)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from deployments.actions import ActionError
from deployments.models import Service
from environments.actions import record
from ingress import dns, routes
from ingress.models import Domain, Hostname, grace
from ingress.names import InvalidName, clean_domain, host_for

log = logging.getLogger(__name__)


def add_domain(service: Service, name: str, user) -> Domain:
    """Claim a custom domain for the service: served once its owner proves it (TXT record + DNS here).

    Another service's unproven claim blocks nobody; a name another service proved is refused.
    """
    try:
        name = clean_domain(name)
    except InvalidName as exc:
        raise ActionError(str(exc)) from None
    if Domain.objects.filter(name=name, service=service).exists():
        raise ActionError(f"{name} is already a domain of {service.name}.")
    if Domain.objects.filter(name=name, verified_at__isnull=False).exists():
        raise ActionError(
            f"{name} already belongs to another service, whose owner proved it with a DNS record. "
            f"If the domain is yours, delete their {settings.DOMAIN_CHALLENGE_LABEL}.{name} TXT record: "
            f"their claim ends {settings.DOMAIN_GRACE_HOURS:g} hours later, and you can add it then."
        )
    try:
        with transaction.atomic():
            domain = Domain.objects.create(
                name=name,
                service=service,
                added_by=user,
                check_result="Create the DNS records shown here; we check them every minute.",
            )
            record(service.environment, user, "add domain", f"{name} to {service.name}")
    except IntegrityError:
        raise ActionError(f"{name} is already a domain of {service.name}.") from None
    return domain


def check_domain(domain: Domain) -> Domain:
    """Ask the DNS again whether the domain is proven, and move it along:
    pending -> serving; serving -> failing (proof gone, still serving for the grace period)
    -> stopped; failing or stopped -> serving once the proof is back.

    Safe to run twice at once: the change is claimed with a conditional UPDATE, and only
    the claimant records it.
    """
    label = Hostname.objects.filter(service_id=domain.service_id).values_list("label", flat=True).first()
    result = dns.check(domain.name, host_for(label) if label else "", domain.token)
    now = timezone.now()
    verified_at, failing_since, explanation = domain.verified_at, domain.failing_since, result.explanation
    if result.proven:
        failing_since = None
        if verified_at is None:
            verified_at = now
            if (
                Domain.objects.filter(name=domain.name, verified_at__isnull=False)
                .exclude(pk=domain.pk)
                .exists()
            ):
                verified_at, explanation = None, f"{domain.name} already belongs to another service."
    elif result.proven is False and verified_at is not None:
        failing_since = failing_since or now
        if now >= failing_since + grace():
            verified_at = None
    what = _transition(domain, verified_at, failing_since)
    fields = {"verified_at": verified_at, "failing_since": failing_since}
    try:
        with transaction.atomic():
            claimed = Domain.objects.filter(
                pk=domain.pk, verified_at=domain.verified_at, failing_since=domain.failing_since
            ).update(**fields, checked_at=now, check_result=explanation[:300])
            if claimed and what:
                record(
                    domain.service.environment, None, what, _detail(domain, what, explanation, failing_since)
                )
    except IntegrityError:  # another service proved the same name a moment ago
        claimed, what = 0, ""
        Domain.objects.filter(pk=domain.pk).update(
            checked_at=now, check_result=f"{domain.name} already belongs to another service."
        )
    domain.refresh_from_db()
    if claimed and what in {"domain verified", "domain unverified"}:
        routes.sync_later()
    return domain


def _transition(domain: Domain, verified_at, failing_since) -> str:
    if (domain.verified_at is None) != (verified_at is None):
        return "domain verified" if verified_at else "domain unverified"
    if verified_at is not None and (domain.failing_since is None) != (failing_since is None):
        return "domain failing" if failing_since else "domain proven again"
    return ""


def _detail(domain: Domain, what: str, explanation: str, failing_since) -> str:
    if what == "domain failing":
        until = timezone.localtime(failing_since + grace()).strftime("%Y-%m-%d %H:%M %Z")
        return f"{domain.name}: {explanation} It keeps serving until {until}."
    if what == "domain unverified":
        return f"{domain.name} stopped serving: {explanation}"
    return f"{domain.name}: {explanation}"


def remove_domain(domain: Domain, user) -> None:
    """Stop serving the domain and let any service claim it."""
    with transaction.atomic():
        Domain.objects.filter(pk=domain.pk).delete()
        record(domain.service.environment, user, "remove domain", f"{domain.name} from {domain.service.name}")


def recheck_domains() -> None:
    """On a worker, periodically: claims not yet proven and domains whose proof is gone are
    asked every pass (a domain goes live, or comes back, without anyone clicking); proven
    ones every DOMAIN_RECHECK_INTERVAL."""
    due = timezone.now() - timedelta(seconds=settings.DOMAIN_RECHECK_INTERVAL)
    domains = Domain.objects.filter(
        Q(verified_at__isnull=True)
        | Q(failing_since__isnull=False)
        | Q(checked_at__isnull=True)
        | Q(checked_at__lt=due)
    ).select_related("service__environment")
    for domain in domains.order_by("checked_at", "pk"):
        try:
            check_domain(domain)
        except Exception:
            log.exception("domain %s could not be checked", domain.name)
