"""The plans a new installation starts with; the operator edits them in the admin
(and sets each paid plan's Stripe price id there). Used by the data migration,
and again whenever no default plan is found (a flushed test database, say)."""

from decimal import Decimal

PLANS = [
    {
        "slug": "open-source",
        "name": "Open Source",
        "price_label": "free",
        "is_default": True,
        "open_source_only": True,
        "private_repositories": False,
        "max_services": 5,
        "max_environments": 2,
        "memory_mb": 512,
        "cpus": Decimal("0.50"),
        "max_concurrent_builds": 1,
        "build_minutes_per_month": 500,
        "max_cron_jobs": 3,
        "max_replicas": 2,
        "position": 0,
    },
    {
        "slug": "hobby",
        "name": "Hobby",
        "price_label": "$7 a month",
        "private_repositories": True,
        "max_services": 10,
        "max_environments": 3,
        "memory_mb": 1024,
        "cpus": Decimal("1.00"),
        "max_concurrent_builds": 2,
        "build_minutes_per_month": 1000,
        "max_cron_jobs": 10,
        "max_replicas": 5,
        "position": 1,
    },
    {
        "slug": "pro",
        "name": "Pro",
        "price_label": "$25 a month",
        "private_repositories": True,
        "max_services": 50,
        "max_environments": 10,
        "memory_mb": 4096,
        "cpus": Decimal("2.00"),
        "max_concurrent_builds": 4,
        "build_minutes_per_month": 5000,
        "max_cron_jobs": 50,
        "max_replicas": 10,
        "position": 2,
    },
]


def ensure(plan_model) -> None:
    """Create the seeded plans that are missing; never touch ones the operator edited."""
    # A migration's historical model may not have the fields added later (max_cron_jobs): they
    # come with their own migration.
    known = {field.name for field in plan_model._meta.get_fields()}
    for plan in PLANS:
        fields = {k: v for k, v in plan.items() if k != "slug" and k in known}
        if plan.get("is_default") and plan_model.objects.filter(is_default=True).exists():
            fields["is_default"] = False
        plan_model.objects.get_or_create(slug=plan["slug"], defaults=fields)
