"""Every service gets its address now, not at its first deployment (ingress/addresses.py).

Addresses already held are kept as they are: a service that deployed keeps
`<service>-<environment>`. A service that never had one gets it by the same rule,
oldest service first; where that label is already held (before, the second
service's deploy was refused), it gets its environment's suffix instead.
Services of deleted environments get none.
"""

from django.db import migrations

from ingress import addresses


def give_addresses(apps, schema_editor):
    Service = apps.get_model("deployments", "Service")
    Hostname = apps.get_model("ingress", "Hostname")
    without = Service.objects.filter(ingress_hostname__isnull=True, environment__deleted_at__isnull=True)
    for service in without.select_related("environment").order_by("pk"):
        addresses.assign(service, hostname_model=Hostname)


class Migration(migrations.Migration):
    dependencies = [
        ("ingress", "0002_domain_ownership"),
        ("deployments", "0007_service_health_check_path"),
        ("environments", "0002_event_membership_and_more"),
    ]
    operations = [migrations.RunPython(give_addresses, migrations.RunPython.noop)]
