"""A deleted service (or environment, or user) takes its routes with it.

Deleting cascades to Hostname and Domain rows; whoever deleted need not know
about the proxy: a worker reloads the routes once the deletion is committed.
"""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from ingress.models import Domain, Hostname


@receiver(post_delete, sender=Hostname)
@receiver(post_delete, sender=Domain)
def _reload_routes(sender, **kwargs) -> None:
    from ingress.routes import sync_later

    sync_later()
