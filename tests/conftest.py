"""Shared fixtures: named users, local git repositories, a real Celery worker,
and clean-up of everything the tests made on the Docker engine."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from deployments.models import Deployment, LogLine
from tests.browser import browser, page  # noqa: F401  (one Chromium for the whole run)
from tests.db_flush import _flush_by_delete  # noqa: F401  (emptying tables after a test, fast)
from tests.fakes.dns import _fake_dns_server, fake_dns  # noqa: F401  (custom domains resolve here)
from tests.own import clean_engine
from tests.proxy import ingress_proxy, localhost_names  # noqa: F401  (the tests' own proxy)
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"
WORKER_ENV = {
    "HEALTH_TIMEOUT": "15",
    "BUILD_TIMEOUT": "300",
    "HEARTBEAT_INTERVAL": "2",
    "DEPLOY_RETRY_DELAY": "1",
    # The grace period before SIGKILL, as it was before the default became 30 s: an app
    # that ignores SIGTERM is not what most tests are about.
    "STOP_TIMEOUT": "10",
    # Tests run the reconciler when they mean to; one at each worker's start would race them.
    "RECONCILE_AT_START": "0",
}


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """Hash the tests' passwords with MD5: Django's PBKDF2 (a million rounds, its default and
    production's) takes 0.7 s a password on this machine, and most tests sign up two or three
    people. The default hashers stay after it, so passwords a subprocess set still check."""
    hashers = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]
    with override_settings(PASSWORD_HASHERS=hashers):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits count in the real Redis cache: every test starts from zero."""
    from django.core.cache import cache

    cache.clear()


def make_user(name: str):
    """A user who signed up and verified their email, as allauth would leave them."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    email = f"{name}@example.com"
    user = get_user_model().objects.create_user(name, email, f"{name}-password-1")
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


class GitRepo:
    """A repository on disk, made from one of tests/apps, reachable by file:// URL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"file://{path}"

    def git(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Alice",
            "GIT_AUTHOR_EMAIL": "alice@example.com",
            "GIT_COMMITTER_NAME": "Alice",
            "GIT_COMMITTER_EMAIL": "alice@example.com",
        }
        return subprocess.run(
            ["git", *args], cwd=self.path, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        for name, text in (files or {}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def make_repo(tmp_path):
    def make(app: str, branch: str = "main") -> GitRepo:
        path = tmp_path / f"{app}-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(APPS / app, path)
        repo = GitRepo(path)
        repo.git("init", "-q", "-b", branch)
        repo.commit(f"First version of {app}")
        return repo

    return make


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Worker:
    """A real `celery worker` process, on its own queue, with its own settings."""

    def __init__(self, queue: str, log_path: Path, env: dict[str, str]) -> None:
        self.queue = queue
        self.log_path = log_path
        full_env = {**os.environ, **WORKER_ENV, "DATABASE_URL": database_url(), **env}
        full_env["DEPLOY_QUEUE"] = queue
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queue,
                "--concurrency", "2", "--loglevel", "INFO", "-n", f"{queue}@%h",
                "--without-mingle", "--without-gossip",
            ],
            cwd=ROOT, env=full_env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        eventually(
            lambda: b" ready." in log_path.read_bytes() or self.process.poll() is not None,
            timeout=60,
            message=lambda: f"the worker did not start:\n{log_path.read_text()}",
        )
        if b" ready." not in log_path.read_bytes():
            raise RuntimeError(f"the worker did not start:\n{log_path.read_text()}")

    def kill(self) -> None:
        """Kill the worker and its pool at once, as a crash or OOM kill would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        self.ask_to_stop()
        self.wait_stopped()

    def ask_to_stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def wait_stopped(self) -> None:
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture(scope="session")
def worker_factory(django_db_setup, django_db_blocker, tmp_path_factory):
    workers = []

    def start(queue: str, **env: str) -> Worker:
        # Two live workers on one queue would share its tasks, each with its own settings.
        if any(w.queue == queue and w.process.poll() is None for w in workers):
            raise RuntimeError(f"a worker already serves the queue {queue!r}: give this one its own name")
        worker = Worker(queue, tmp_path_factory.mktemp("worker") / f"{queue}.log", env)
        workers.append(worker)
        return worker

    yield start
    # All at once: each takes a few seconds to finish its warm shutdown.
    for worker in workers:
        worker.ask_to_stop()
    for worker in workers:
        worker.wait_stopped()


@pytest.fixture(scope="session")
def shared_worker(worker_factory):
    return worker_factory("tests")


@pytest.fixture
def worker(shared_worker, transactional_db, settings, engine_clean_up):
    """The session's worker, with this test's deployments routed to it."""
    settings.DEPLOY_QUEUE = shared_worker.queue
    return shared_worker


@pytest.fixture
def engine_clean_up():
    """After the test, remove what it left running on the engine."""
    yield
    clean_engine()


@pytest.fixture(scope="session", autouse=True)
def _engine_clean_up_at_both_ends():
    # At the start too: a fresh test database gives out ids from 1 again, and what a killed
    # earlier run of this platform left would carry the same ids as this run's (tests/own.py).
    clean_engine()
    yield
    clean_engine()


def wait_for(deployment: Deployment, timeout: float = 240) -> Deployment:
    """Wait until the deployment runs or has failed; return it fresh from the database."""

    def settled() -> bool:
        deployment.refresh_from_db()
        return deployment.settled

    eventually(
        settled,
        timeout=timeout,
        interval=0.5,
        message=lambda: f"deployment {deployment.pk} still {deployment.state}:\n{log_text(deployment)}",
    )
    return deployment


def wait_retired(deployment: Deployment, timeout: float = 60) -> Deployment:
    """Wait until a superseded deployment's instance is removed, after the drain."""

    def retired() -> bool:
        deployment.refresh_from_db()
        return deployment.retired_at is not None

    eventually(
        retired,
        timeout=timeout,
        interval=0.2,
        message=lambda: f"deployment {deployment.pk} ({deployment.state}) was never retired",
    )
    return deployment


def log_text(deployment: Deployment) -> str:
    return "\n".join(LogLine.objects.filter(deployment=deployment).values_list("text", flat=True))
