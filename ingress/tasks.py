from celery import shared_task

from ingress import actions, routes


@shared_task
def sync() -> None:
    """Load the routes again: heals a proxy that restarted empty, and drops a domain whose
    grace period just ended."""
    routes.sync()


@shared_task
def check_domains() -> None:
    """Ask the DNS whether custom domains are proven (beat, every DOMAIN_CHECK_INTERVAL)."""
    actions.recheck_domains()


@shared_task
def load_routes() -> None:
    """Load the routes after a change the web process made (routes.sync_later)."""
    routes.sync_quietly()
