"""Custom domains are proven by a TXT record with a token of their own.

Domains proven the old way (their name pointing here) get a token and keep serving
for the grace period (DOMAIN_GRACE_HOURS) from this migration on; their owners must
publish the TXT record shown on the domains page before it ends, or they stop.
"""

import secrets

from django.db import migrations, models
from django.utils import timezone

import ingress.models


def give_tokens(apps, schema_editor):
    Domain = apps.get_model("ingress", "Domain")
    now = timezone.now()
    for domain in Domain.objects.all():
        domain.token = secrets.token_hex(16)
        if domain.verified_at is not None:
            domain.failing_since = now
            domain.check_result = (
                "Proven by its address only: publish the TXT record shown here to keep serving it."
            )
        domain.save(update_fields=["token", "failing_since", "check_result"])


class Migration(migrations.Migration):
    dependencies = [
        ("ingress", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="domain",
            name="failing_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="domain",
            name="token",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.AlterField(
            model_name="domain",
            name="name",
            field=models.CharField(max_length=253),
        ),
        migrations.AddConstraint(
            model_name="domain",
            constraint=models.UniqueConstraint(
                fields=("name", "service"), name="ingress_domain_once_per_service"
            ),
        ),
        migrations.AddConstraint(
            model_name="domain",
            constraint=models.UniqueConstraint(
                condition=models.Q(("verified_at__isnull", False)),
                fields=("name",),
                name="ingress_domain_one_proven_owner",
            ),
        ),
        # Rows last: no schema change after them in this transaction (PostgreSQL refuses one
        # while the updates' deferred checks are pending).
        migrations.RunPython(give_tokens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="domain",
            name="token",
            field=models.CharField(default=ingress.models.new_token, max_length=64),
        ),
    ]
