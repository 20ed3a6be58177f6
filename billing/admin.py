from django.contrib import admin

from billing.models import BillingAccount, LicenseCheck, Plan, PlanChange, ServiceStop


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name", "slug", "stripe_price_id", "is_default", "open_source_only", "private_repositories",
        "max_services", "max_environments", "memory_mb", "cpus", "max_concurrent_builds",
        "build_minutes_per_month", "max_cron_jobs", "position",
    ]  # fmt: skip
    list_editable = ["position"]


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = ["user", "plan", "subscription_status", "stripe_customer_id", "grace_until"]
    list_filter = ["plan", "subscription_status"]
    search_fields = ["user__email", "stripe_customer_id"]


@admin.register(PlanChange)
class PlanChangeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "account", "from_plan", "to_plan", "subscription_status", "stripe_event_id"]


@admin.register(LicenseCheck)
class LicenseCheckAdmin(admin.ModelAdmin):
    list_display = ["service", "qualifies", "reason", "checked_at"]


@admin.register(ServiceStop)
class ServiceStopAdmin(admin.ModelAdmin):
    list_display = ["service", "deployment_id", "reason", "stopped_at"]
