from celery import shared_task

from ingress import actions, routes


@shared_task
def sync() -> None:
    """Re-check custom domains, then load the routes again: heals a proxy that restarted empty."""
    actions.recheck_domains()
    routes.sync()


@shared_task
def load_routes() -> None:
    """Load the routes after a change the web process made (routes.sync_later)."""
    routes.sync_quietly()
