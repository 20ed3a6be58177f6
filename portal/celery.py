import os

from celery import Celery
from celery.signals import worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _refuse_an_unreadable_key_ring(sender, **kwargs) -> None:
    """A worker that cannot decrypt variables or tokens would fail every deploy: it does not start."""
    from django.core.exceptions import ImproperlyConfigured

    from portal import key_ring

    try:
        key_ring.check()
    except ImproperlyConfigured as exc:
        raise SystemExit(f"m3o worker: {exc}") from None  # Celery logs and swallows other exceptions here


@worker_ready.connect
def _reconcile_at_start(sender, **kwargs) -> None:
    """After a host reboot or an engine restart, the engine converges before new work."""
    from django.conf import settings

    if settings.RECONCILE_AT_START:
        from deployments.tasks import reconcile_all

        reconcile_all.apply_async(queue=settings.DEPLOY_QUEUE)


@worker_ready.connect
def _collect_runtime_logs(sender, **kwargs) -> None:
    """Instances' output goes to Redis from here; the web process reads it there."""
    from deployments import log_collector

    log_collector.start()


@worker_ready.connect
def _beat_for_health(sender, **kwargs) -> None:
    """/healthz and `manage.py doctor` judge the engine by these beats (portal/heartbeat.py)."""
    from portal import heartbeat

    heartbeat.start(getattr(sender, "hostname", None))
