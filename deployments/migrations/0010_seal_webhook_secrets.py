"""Webhook secrets encrypted at rest with the variables' key ring (portal/crypto.py).

The column is renamed so that nothing reads an encrypted value as a secret by
mistake, widened for Fernet's tokens, and every stored secret is encrypted.
Undone, the secrets are decrypted back into the clear column.
"""

from django.db import migrations, models

import deployments.models
from portal import crypto


def seal(apps, schema_editor):
    Service = apps.get_model("deployments", "Service")
    for service in Service.objects.only("sealed_webhook_secret").iterator():
        sealed = crypto.encrypt(service.sealed_webhook_secret)
        Service.objects.filter(pk=service.pk).update(sealed_webhook_secret=sealed)


def unseal(apps, schema_editor):
    Service = apps.get_model("deployments", "Service")
    for service in Service.objects.only("sealed_webhook_secret").iterator():
        clear = crypto.decrypt(service.sealed_webhook_secret)
        Service.objects.filter(pk=service.pk).update(sealed_webhook_secret=clear)


class Migration(migrations.Migration):
    dependencies = [("deployments", "0009_health_checks")]

    operations = [
        migrations.RenameField("service", "webhook_secret", "sealed_webhook_secret"),
        migrations.AlterField(
            model_name="service",
            name="sealed_webhook_secret",
            field=models.CharField(
                default=deployments.models._new_sealed_webhook_secret, editable=False, max_length=300
            ),
        ),
        migrations.RunPython(seal, unseal),
    ]
