"""Scheduled work as it runs in production: `celery beat` sends, a worker runs, nobody calls.

The functions themselves have their own tests; these prove that beat's
schedule reaches them: every entry names a task a worker knows, and a real
beat with a real worker cleans up a stale deployment, an expired environment
and a lapsed subscription's service while the test only watches.
"""

import os
import signal
import subprocess
import sys
from datetime import timedelta

import docker
import pytest
from django.conf import settings
from django.utils import timezone

from billing import seed
from billing.models import BillingAccount, Plan, ServiceStop
from billing.quotas import account_for
from deployments import actions
from deployments.models import Deployment
from environments.actions import create_environment
from environments.models import Environment
from portal.celery import app
from tests.conftest import ROOT, WORKER_ENV, database_url, log_text, wait_for
from tests.waiting import eventually

# The worker of scheduled tasks listens where beat sends them: the default queue.
DEFAULT_QUEUE = settings.CELERY_TASK_DEFAULT_QUEUE
SHORT_INTERVALS = {
    "REAP_INTERVAL": "2",
    "ENVIRONMENT_EXPIRY_INTERVAL": "2",
    "BILLING_SWEEP_INTERVAL": "10",  # its smallest allowed value
}


@pytest.mark.django_db  # importing the tasks as a worker does opens the database
def test_every_scheduled_entry_names_a_task_a_worker_knows():
    app.loader.import_default_modules()  # what a worker imports as it starts
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert {"reap-stale-deployments", "delete-expired-environments", "stop-services-after-grace"} <= set(
        schedule
    )
    for name, entry in schedule.items():
        assert entry["task"] in app.tasks, f"{name}: no task is called {entry['task']!r}"
        assert float(entry["schedule"]) > 0, name


class Beat:
    """A real `celery beat` with the short intervals, sending to the test's broker."""

    def __init__(self, folder) -> None:
        env = {**os.environ, **WORKER_ENV, **SHORT_INTERVALS, "DATABASE_URL": database_url()}
        self.log_path = folder / "beat.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO",
             "--schedule", str(folder / "beat-schedule")],
            cwd=ROOT, env=env, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=20)


@pytest.mark.docker
def test_beat_and_a_worker_clean_up_without_being_asked(
    worker_factory, transactional_db, settings, engine_clean_up, alice, make_repo, tmp_path
):
    # Whatever an earlier test left on the default queue is not this test's to run.
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(DEFAULT_QUEUE)
    worker = worker_factory(DEFAULT_QUEUE, **SHORT_INTERVALS)
    settings.DEPLOY_QUEUE = worker.queue
    try:
        seed.ensure(Plan)
        account = account_for(alice)
        account.plan = Plan.objects.get(slug="pro")
        account.save()
        repo = make_repo("static-unlicensed")  # no license: only a paid plan keeps it running
        live = wait_for(actions.deploy_repository(alice, name="site", repository_url=repo.url))
        assert live.state == "running", log_text(live)

        # A deployment whose worker died an hour ago, on a queue nobody reads.
        settings.DEPLOY_QUEUE = "nobody-reads-this"
        stuck = actions.deploy_repository(alice, name="stuck", repository_url=repo.url)
        settings.DEPLOY_QUEUE = worker.queue
        Deployment.objects.filter(pk=stuck.pk).update(
            state="building", heartbeat_at=timezone.now() - timedelta(hours=1)
        )
        preview = create_environment(alice, name="preview", ttl_hours=1)
        Environment.objects.filter(pk=preview.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
        BillingAccount.objects.filter(pk=account.pk).update(
            plan=Plan.objects.get(slug="open-source"), grace_until=timezone.now() - timedelta(minutes=1)
        )

        beat = Beat(tmp_path)  # only now, with everything in place
        try:

            def stuck_failed() -> bool:
                stuck.refresh_from_db()
                return stuck.state == "failed"

            eventually(stuck_failed, timeout=90, message=beat.log)
            assert "worker running this deployment stopped" in stuck.failure_reason
            eventually(
                lambda: Environment.objects.get(pk=preview.pk).deleted_at is not None,
                timeout=90,
                message=beat.log,
            )
            eventually(
                lambda: ServiceStop.objects.filter(service=live.service).exists(),
                timeout=90,
                message=beat.log,
            )
            # What alice sees: the site is stopped and its container is gone.
            engine = docker.from_env()
            eventually(
                lambda: not engine.containers.list(all=True, filters={"id": live.instance_id}),
                timeout=60,
                message="the lapsed service's container still runs",
            )
            assert "==> Stopped: the Open Source plan does not cover it" in log_text(live)
        finally:
            beat.stop()
    finally:
        worker.stop()
