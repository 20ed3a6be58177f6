"""`make run`'s defaults (SQLite, a worker of 2 processes): 20 deployments queued at once by
4 users all end in a final state, and nobody is told "database is locked".

The rest of the suite runs on Postgres; this module makes a SQLite file of its own and
runs the worker and the four users' processes on it, as `make run` would. The tables are
made from the models (as pytest-django's --nomigrations does): under load the
migrations alone took minutes on SQLite here, and locking is what this module is about.
"""

import os
import sqlite3
import subprocess
import sys

import pytest

from deployments.models import Deployment
from tests.conftest import ROOT
from tests.waiting import eventually

pytestmark = [pytest.mark.docker]
USERS = ("ana", "ben", "cai", "dee")

# One user's burst: two services, then three redeploys, as fast as the actions take them.
QUEUE = """
from django.contrib.auth import get_user_model
from deployments import actions
user = get_user_model().objects.get(username={name!r})
a = actions.deploy_repository(user, name={name!r} + "-a", repository_url={url!r}).service
b = actions.deploy_repository(user, name={name!r} + "-b", repository_url={url!r}).service
for service in (a, b, a):
    actions.request_deploy(service, user)
"""

TABLES = """
from django.conf import settings
from django.core.management import call_command

class NoMigrations(dict):
    def __contains__(self, app):
        return True

    def __getitem__(self, app):
        return None

settings.MIGRATION_MODULES = NoMigrations()
call_command("migrate", run_syncdb=True, verbosity=0)
"""

SIGN_UP = """
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
for name in {names!r}:
    user = get_user_model().objects.create_user(name, name + "@example.com", name + "-password-1")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
"""


def manage(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def finished(process: subprocess.Popen) -> str:
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    return out


def test_twenty_deployments_by_four_users_on_sqlite_all_end_final(
    tmp_path, worker_factory, engine_clean_up, make_repo
):
    database = tmp_path / "db.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DEPLOY_QUEUE": "sqlite-deploys"}
    finished(manage(env, "shell", "-c", TABLES))
    finished(manage(env, "shell", "-c", SIGN_UP.format(names=USERS)))
    worker = worker_factory("sqlite-deploys", DATABASE_URL=env["DATABASE_URL"])  # 2 processes
    url = make_repo("static-site").url
    try:
        bursts = [manage(env, "shell", "-c", QUEUE.format(name=name, url=url)) for name in USERS]
        said = "".join(finished(burst) for burst in bursts)

        def states() -> list[tuple[int, str]]:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
                return db.execute("SELECT id, state FROM deployments_deployment").fetchall()

        settled = {*Deployment.FINAL_STATES, Deployment.State.RUNNING}
        eventually(
            lambda: len(states()) == 20 and all(state in settled for _, state in states()),
            timeout=400,
            interval=1,
            message=lambda: f"{states()}\n{worker.log_path.read_text()[-3000:]}",
        )
    finally:
        worker.stop()
    everything = said + worker.log_path.read_text()
    assert "database is locked" not in everything
    final = dict(states())
    assert len(final) == 20
    # Each user's newest deployment of each service runs; the older ones gave way to it.
    assert sorted(final.values()).count(Deployment.State.RUNNING) == 2 * len(USERS), final
    assert Deployment.State.FAILED not in final.values(), final
