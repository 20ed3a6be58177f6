from django.conf import settings
from django.db import models

from deployments.models import Service


class Hostname(models.Model):
    """A service's own address, `<service>-<environment>`, under APPS_DOMAIN.

    The label alone is stored, so the address follows a change of APPS_DOMAIN.
    Environments are named per owner, so two tenants can both have a `web` in
    `production`: the first to deploy keeps `web-production`, and the unique
    constraint refuses the second, even when both race.
    """

    label = models.CharField(max_length=63, unique=True)
    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="ingress_hostname")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.label


class Domain(models.Model):
    """A custom domain of a service: served once its DNS points at the platform."""

    name = models.CharField(max_length=253, unique=True)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="custom_domains")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set while the domain's DNS points at us; the proxy serves only those.
    verified_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    check_result = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RouteTable(models.Model):
    """One row, counting the loads of the proxy's configuration and when the last one ended.

    Loads are ordered by a lock in Redis (ingress.routes.exclusive), not by this
    row: a database lock would be held through a reload of the proxy.
    """

    generation = models.PositiveBigIntegerField(default=0)
    loaded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"routes #{self.generation}"
