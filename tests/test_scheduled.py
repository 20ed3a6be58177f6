"""Beat's schedule as a worker loads it: every entry names a task the worker knows."""

import pytest
from django.conf import settings

from portal.celery import app


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
