"""A new service gets its address as it is made; a deleted service (or environment, or
user) takes its routes with it.

Every way of making a service (a deploy, a copy, a promotion) saves a row, so the
address is chosen here once for all of them, in the same transaction. Deleting
cascades to Hostname and Domain rows; whoever deleted need not know about the
proxy: a worker reloads the routes once the deletion is committed.
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from deployments.models import Service
from ingress import addresses
from ingress.models import Domain, Hostname


@receiver(post_save, sender=Service)
def _give_address(sender, instance: Service, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:  # raw: loaded from a fixture or a backup, with its own rows
        addresses.assign(instance)


@receiver(post_delete, sender=Hostname)
@receiver(post_delete, sender=Domain)
def _reload_routes(sender, **kwargs) -> None:
    from ingress.routes import sync_later

    sync_later()
