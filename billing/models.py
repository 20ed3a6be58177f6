"""Plans, who is on which, and what billing decided about each service."""

from decimal import Decimal

from django.conf import settings
from django.db import models


class Plan(models.Model):
    """A plan is data: the operator changes names, prices and limits in the admin."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=60)
    # The Stripe price sold through Checkout; empty for a plan nobody pays for.
    stripe_price_id = models.CharField(max_length=100, blank=True, default="")
    price_label = models.CharField(max_length=60, blank=True, default="")
    # The plan of everyone without a live subscription.
    is_default = models.BooleanField(default=False)
    # The free tier: only public repositories with an OSI-approved license deploy.
    open_source_only = models.BooleanField(default=False)
    private_repositories = models.BooleanField(default=False)
    max_services = models.PositiveIntegerField()
    max_environments = models.PositiveIntegerField()
    memory_mb = models.PositiveIntegerField(help_text="Memory per instance, in MiB")
    cpus = models.DecimalField(max_digits=5, decimal_places=2, help_text="CPUs per instance")
    max_concurrent_builds = models.PositiveIntegerField()
    build_minutes_per_month = models.PositiveIntegerField()
    max_cron_jobs = models.PositiveIntegerField(default=5, help_text="Cron jobs, all the owner's services")
    max_replicas = models.PositiveIntegerField(default=2, help_text="Replicas per process type of a service")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_plan"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_paid(self) -> bool:
        return bool(self.stripe_price_id)

    @property
    def cpus_float(self) -> float:
        return float(self.cpus or Decimal(0))


class BillingAccount(models.Model):
    """A person's plan and the Stripe subscription that pays for it."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="billing")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="accounts")
    stripe_customer_id = models.CharField(max_length=100, blank=True, default="", db_index=True)
    stripe_subscription_id = models.CharField(max_length=100, blank=True, default="")
    subscription_status = models.CharField(max_length=30, blank=True, default="")
    # Stripe may deliver events out of order: an older one never undoes a newer.
    last_event_at = models.DateTimeField(null=True, blank=True)
    # Set when a paid subscription ends: services the free tier does not
    # cover keep running until then, and are stopped after.
    grace_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} on {self.plan}"


class PlanChange(models.Model):
    """The audit trail of plan moves; one row per Stripe event at most."""

    account = models.ForeignKey(BillingAccount, on_delete=models.CASCADE, related_name="changes")
    from_plan = models.ForeignKey(Plan, null=True, on_delete=models.SET_NULL, related_name="+")
    to_plan = models.ForeignKey(Plan, null=True, on_delete=models.SET_NULL, related_name="+")
    subscription_status = models.CharField(max_length=30, blank=True, default="")
    stripe_event_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.from_plan} -> {self.to_plan}: {self.reason}"


class LicenseCheck(models.Model):
    """The free-tier verdict of a service's latest deployment, shown on its page."""

    service = models.OneToOneField(
        "deployments.Service", on_delete=models.CASCADE, related_name="license_check"
    )
    deployment_id = models.BigIntegerField(null=True)
    qualifies = models.BooleanField()
    reason = models.CharField(max_length=300)
    spdx_id = models.CharField(max_length=100, blank=True, default="")
    private = models.BooleanField(default=False)
    checked_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.reason


class ServiceStop(models.Model):
    """A service billing stopped (its instance removed; nothing deleted)."""

    service = models.ForeignKey("deployments.Service", on_delete=models.CASCADE, related_name="billing_stops")
    deployment_id = models.BigIntegerField()
    reason = models.CharField(max_length=300)
    stopped_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["service", "deployment_id"], name="one_stop_per_deployment")
        ]

    def __str__(self) -> str:
        return f"{self.service} stopped: {self.reason}"
