"""Every change of a service's custom domains goes through here (its address: ingress/addresses.py)."""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments.actions import ActionError
from deployments.models import Service
from environments.actions import record
from ingress import dns, routes
from ingress.models import Domain, Hostname
from ingress.names import InvalidName, clean_domain, host_for

log = logging.getLogger(__name__)


def add_domain(service: Service, name: str, user) -> Domain:
    """Attach a custom domain; it is served once its DNS points here (checked now and periodically)."""
    try:
        name = clean_domain(name)
    except InvalidName as exc:
        raise ActionError(str(exc)) from None
    try:
        with transaction.atomic():
            domain = Domain.objects.create(name=name, service=service, added_by=user)
            record(service.environment, user, "add domain", f"{name} to {service.name}")
    except IntegrityError:
        if Domain.objects.filter(name=name, service=service).exists():
            raise ActionError(f"{name} is already a domain of {service.name}.") from None
        raise ActionError(f"{name} already belongs to another service.") from None
    return check_domain(domain)


def check_domain(domain: Domain) -> Domain:
    """Resolve the domain again; serve it when it points here, stop when it no longer does."""
    label = Hostname.objects.filter(service_id=domain.service_id).values_list("label", flat=True).first()
    result = dns.check(domain.name, host_for(label) if label else "")
    now = timezone.now()
    verified_at = (domain.verified_at or now) if result.points_at_us else None
    changed = (verified_at is None) != (domain.verified_at is None)
    Domain.objects.filter(pk=domain.pk).update(
        verified_at=verified_at, checked_at=now, check_result=result.explanation[:300]
    )
    domain.verified_at, domain.checked_at, domain.check_result = verified_at, now, result.explanation[:300]
    if changed:
        what = "domain verified" if verified_at else "domain unverified"
        record(domain.service.environment, None, what, f"{domain.name}: {result.explanation}")
        routes.sync_later()
    return domain


def remove_domain(domain: Domain, user) -> None:
    """Stop serving the domain and let any service claim it."""
    with transaction.atomic():
        Domain.objects.filter(pk=domain.pk).delete()
        record(domain.service.environment, user, "remove domain", f"{domain.name} from {domain.service.name}")


def recheck_domains() -> None:
    """Periodically: a domain whose DNS was just set up starts answering without anyone clicking."""
    for domain in Domain.objects.all():
        try:
            check_domain(domain)
        except Exception:
            log.exception("domain %s could not be checked", domain.name)
