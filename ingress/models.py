import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from deployments.models import Service
from ingress.names import challenge_name, challenge_value


class Hostname(models.Model):
    """A service's own address under APPS_DOMAIN, chosen as the service is made (ingress/addresses.py).

    The label alone is stored, so the address follows a change of APPS_DOMAIN.
    Environments are named per owner, so two tenants can both have a `web` in
    `production`: the first gets `web-production`, the second the same with its
    environment's suffix; the unique label decides, even when both race.
    """

    label = models.CharField(max_length=63, unique=True)
    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="ingress_hostname")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.label


def new_token() -> str:
    return secrets.token_hex(16)


def grace() -> timedelta:
    return timedelta(hours=settings.DOMAIN_GRACE_HOURS)


class DomainQuerySet(models.QuerySet):
    def serving(self) -> "DomainQuerySet":
        """Proven domains, less those whose proof has been gone for longer than the grace period."""
        cutoff = timezone.now() - grace()
        return self.filter(verified_at__isnull=False).filter(
            models.Q(failing_since__isnull=True) | models.Q(failing_since__gt=cutoff)
        )


class Domain(models.Model):
    """A custom domain of a service, served once its owner proved it (ingress/dns.py).

    Any number of services may claim a name; only one can prove it, with the TXT
    record holding its own token, so a claim nobody proves blocks no one.
    """

    name = models.CharField(max_length=253)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="custom_domains")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # What the TXT record must hold; made once, never shown to other tenants.
    token = models.CharField(max_length=64, default=new_token)
    # Set once proven (TXT record and pointing here); cleared when the proof has been
    # gone for the grace period. The proxy serves only proven domains.
    verified_at = models.DateTimeField(null=True, blank=True)
    # When a check first found the proof gone; cleared when it is back.
    failing_since = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    check_result = models.CharField(max_length=300, blank=True, default="")

    objects = DomainQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["name", "service"], name="ingress_domain_once_per_service"),
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(verified_at__isnull=False),
                name="ingress_domain_one_proven_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def txt_name(self) -> str:
        return challenge_name(self.name)

    @property
    def txt_value(self) -> str:
        return challenge_value(self.token)

    @property
    def stops_at(self) -> datetime | None:
        """When a proven domain whose proof is gone stops serving."""
        if self.verified_at is None or self.failing_since is None:
            return None
        return self.failing_since + grace()

    @property
    def status(self) -> str:
        """serving, failing (still serving, proof gone), stopped (proof gone too long) or pending."""
        if self.verified_at is not None:
            if self.failing_since is None:
                return "serving"
            return "failing" if timezone.now() < self.stops_at else "stopped"
        return "stopped" if self.failing_since is not None else "pending"


class RouteTable(models.Model):
    """One row, counting the loads of the proxy's configuration and when the last one ended.

    Loads are ordered by a lock in Redis (ingress.routes.exclusive), not by this
    row: a database lock would be held through a reload of the proxy.
    """

    generation = models.PositiveBigIntegerField(default=0)
    loaded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"routes #{self.generation}"
