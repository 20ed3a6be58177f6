"""Nothing gets stuck: every deployment ends in a final state, and the engine converges to
what the database says, after crashes, engine errors and hands in the engine.

Real worker, Docker engine, Redis and proxy throughout.
"""

import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import pytest
import requests
from django.utils import timezone

from deployments import actions, controls, reconcile
from deployments.models import Deployment, Service
from environments.actions import get_or_create_environment
from ingress.names import service_url
from tests import own
from tests.conftest import ROOT, database_url, log_text, wait_for
from tests.proxy import free_port
from tests.waiting import eventually

pytestmark = [pytest.mark.docker]
State = Deployment.State


def engine():
    return docker.from_env()


def about(changes: list[str], *deployments: Deployment) -> list[str]:
    """The changes of a reconciler pass that name these deployments (a pass also removes
    what earlier tests left, which is not this test's business)."""
    ids = "|".join(str(deployment.pk) for deployment in deployments)
    return [change for change in changes if re.search(rf"\bdeployment (?:{ids})\b", change)]


def own_image(repo):
    """A commit no other run builds, so no other installation on the engine has an image
    with the same id (and removes it by id while it cleans up its own)."""
    repo.commit("a build of its own", {"nonce.txt": uuid.uuid4().hex})
    return repo


def unsettled() -> list[tuple[int, str]]:
    return list(
        Deployment.objects.exclude(state__in=(*Deployment.FINAL_STATES, State.RUNNING)).values_list(
            "pk", "state"
        )
    )


@pytest.fixture(scope="module")
def stranded_worker(worker_factory):
    """A worker whose engine is away, with a budget of retries above Celery's own default of 3."""
    return worker_factory(
        "stranded-reconcile", DOCKER_HOST="unix:///nonexistent/docker.sock", DEPLOY_MAX_RETRIES="4"
    )


def test_an_app_that_exits_at_once_fails_as_its_own_error_every_time(worker, alice, make_repo):
    repo = make_repo("exit-at-once")
    service = None
    for _ in range(10):
        if service is None:
            deployment = actions.deploy_repository(alice, name="quitter", repository_url=repo.url)
            service = deployment.service
        else:
            deployment = actions.request_deploy(service, alice)
        deployment = wait_for(deployment)
        assert deployment.state == State.FAILED, log_text(deployment)
        assert "exited with code 3 before it answered HTTP" in deployment.failure_reason
        assert deployment.attempts == 0
        text = log_text(deployment)
        assert "bye from exit-at-once" in text
        assert "retrying" not in text
    assert own.containers(service=service.pk) == []


def test_a_platform_error_past_its_budget_fails_and_deploy_wait_says_so(
    stranded_worker, transactional_db, admin_user, make_repo
):
    repo = make_repo("static-site")
    env = {**os.environ, "DATABASE_URL": database_url(), "DEPLOY_QUEUE": stranded_worker.queue}
    result = subprocess.run(
        [sys.executable, "manage.py", "deploy", repo.url, "--name", "site", "--wait"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "could not run this deployment after 5 attempts" in result.stderr
    deployment = Deployment.objects.get()
    assert (deployment.state, deployment.attempts) == (State.FAILED, 4)
    assert log_text(deployment).count("retrying in") == 4


def test_a_killed_worker_leaves_every_deployment_final_and_nothing_unowned(
    worker_factory, transactional_db, settings, engine_clean_up, alice, make_repo
):
    doomed = worker_factory("doomed-mid-build")
    settings.DEPLOY_QUEUE = doomed.queue
    repo, step = own.slow_build(make_repo)
    deployment = actions.deploy_repository(alice, name="web", repository_url=repo.url)
    eventually(
        lambda: "a long step begins" in log_text(deployment),
        timeout=120,
        message=lambda: log_text(deployment),
    )
    # The words above are also in the "Step 2/3 : RUN echo ..." line, logged before the step runs.
    eventually(lambda: own.build_steps(step), timeout=60, message="the long step never ran")
    doomed.kill()

    def checkout() -> list[Path]:
        return list(Path(settings.WORKSPACE_DIR).glob(f"d{deployment.pk}-*"))

    assert len(checkout()) == 1  # the killed worker's, left behind
    eventually(lambda: actions.reap_stale_deployments(stale_after=2) == [deployment.pk], timeout=30)

    # A new worker's first pass removes what the killed one left of this deployment.
    def left() -> dict[str, list[str]]:
        return {
            **own.left_of(deployment),
            "build steps": own.build_steps(step),
            "checkouts": [p.name for p in checkout()],
        }

    successor = worker_factory("successor", RECONCILE_AT_START="1")
    try:
        eventually(lambda: not any(left().values()), timeout=60, message=lambda: f"left: {left()}")
        assert f"removed the checkout d{deployment.pk}-" in successor.log_path.read_text()
    finally:
        successor.stop()
    assert unsettled() == []
    deployment.refresh_from_db()
    assert deployment.state == State.FAILED


def test_after_every_container_is_removed_by_hand_each_service_comes_back_at_its_address(
    worker, alice, make_repo, localhost_names
):
    repo = own_image(make_repo("static-site"))
    web = wait_for(actions.deploy_repository(alice, name="web", repository_url=repo.url))
    api = wait_for(
        actions.deploy_repository(alice, name="api", repository_url=repo.url, environment="staging")
    )
    addresses = [service_url(web.service), service_url(api.service)]
    for url in addresses:
        assert "hello from static-site" in requests.get(url, timeout=5).text
    for container in own.containers(service=web.service_id) + own.containers(service=api.service_id):
        container.remove(force=True)
    assert requests.get(addresses[0], timeout=10).status_code == 502

    changes = reconcile.reconcile()
    assert {change for change in changes if change.startswith("started")} == {
        f"started deployment {api.pk} of api again",
        f"started deployment {web.pk} of web again",
    }
    for url in addresses:
        answer = eventually(lambda url=url: requests.get(url, timeout=5), timeout=30)
        assert "hello from static-site" in answer.text
    for deployment in (web, api):
        deployment.refresh_from_db()
        assert deployment.state == State.RUNNING
        container = engine().containers.get(deployment.instance_id)
        assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    # The next pass has nothing to start or remove of them.
    assert about(reconcile.reconcile(), web, api) == []


def test_an_engine_error_during_stop_and_delete_is_repaired_by_the_next_pass(
    worker, stranded_worker, alice, make_repo, settings
):
    repo = own_image(make_repo("static-site"))
    kept = wait_for(actions.deploy_repository(alice, name="kept", repository_url=repo.url))
    stopped = wait_for(actions.deploy_repository(alice, name="stopped", repository_url=repo.url))
    deleted = wait_for(actions.deploy_repository(alice, name="deleted", repository_url=repo.url))
    settings.DEPLOY_QUEUE = stranded_worker.queue  # the engine work of the controls meets an error
    controls.stop(stopped.service, alice)
    controls.delete_service(deleted.service, alice)
    failed = re.compile(r"deployments\.tasks\.converge\[\S+\] raised unexpected: PlatformError")
    eventually(
        lambda: len(failed.findall(stranded_worker.log_path.read_text())) == 2,
        timeout=30,
        message=lambda: stranded_worker.log_path.read_text()[-3000:],
    )
    # The database says stopped and deleted; the engine still has both instances.
    assert engine().containers.get(stopped.instance_id).status == "running"
    assert engine().containers.get(deleted.instance_id).status == "running"

    changes = reconcile.reconcile()
    assert f"removed instance {stopped.instance_id[:12]} of deployment {stopped.pk}" in changes
    assert f"removed instance {deleted.instance_id[:12]} of deployment {deleted.pk}" in changes
    for gone in (stopped, deleted):
        assert engine().containers.list(all=True, filters={"id": gone.instance_id}) == []
    assert own.images(deleted.service_id) == []
    stopped.refresh_from_db()
    assert (stopped.state, stopped.retired_at is not None) == (State.STOPPED, True)
    assert engine().containers.get(kept.instance_id).status == "running"
    assert "hello from static-site" in requests.get(kept.url, timeout=5).text
    assert about(reconcile.reconcile(), kept, stopped, deleted) == []


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own, to restart at will without touching anyone else's."""
    port = free_port()

    def start() -> subprocess.Popen:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        eventually(lambda: _answers(port), timeout=20, interval=0.05)
        return process

    server = {"process": start()}

    def restart() -> None:
        server["process"].send_signal(signal.SIGKILL)
        server["process"].wait()
        server["process"] = start()

    yield f"redis://127.0.0.1:{port}/0", restart
    server["process"].kill()
    server["process"].wait()


def _answers(port: int) -> bool:
    import redis

    try:
        return redis.Redis(port=port, socket_timeout=1).ping()
    except redis.RedisError:
        return False


def test_a_deployment_in_flight_survives_a_redis_restart(
    worker_factory, transactional_db, engine_clean_up, admin_user, make_repo, own_redis
):
    """Redis goes away and comes back empty while a build runs: the build goes on, its log
    is kept, it goes live, and `manage.py deploy --wait` (following through Redis) returns.
    The worker lives on and takes the next deployment (portal/broker.py)."""
    url, restart = own_redis
    broker = {"REDIS_URL": url, "CELERY_BROKER_URL": url}
    steady = worker_factory("steady", **broker)
    repo = own_image(make_repo("slow-static"))
    env = {**os.environ, **broker, "DATABASE_URL": database_url(), "DEPLOY_QUEUE": steady.queue}

    def deploy(name: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", "deploy", repo.url, "--name", name, "--wait"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    try:
        waiting = deploy("web")
        eventually(lambda: Deployment.objects.filter(state=State.BUILDING).exists(), timeout=120)
        restart()
        out, err = waiting.communicate(timeout=240)
        assert waiting.returncode == 0, out + err
        assert steady.process.poll() is None, steady.log_path.read_text()[-3000:]
        after = deploy("after")
        out, err = after.communicate(timeout=240)
        assert after.returncode == 0, out + err + steady.log_path.read_text()[-3000:]
    finally:
        steady.stop()  # before its Redis goes for good
    assert "Unrecoverable error" not in steady.log_path.read_text()
    for deployment in Deployment.objects.all():
        assert deployment.state == State.RUNNING
        assert "hello from slow-static" in requests.get(deployment.url, timeout=5).text
    assert "the slow step begins" in log_text(Deployment.objects.get(service__name="web"))
    assert unsettled() == []


def test_the_heartbeat_outlives_a_lost_database_connection(transactional_db, alice, settings):
    """Postgres drops the heartbeat's connection (a restart, a failover): the next beat
    reconnects, so the reaper never takes a live build for a dead one."""
    from django.db import connection

    from deployments.pipeline import Heartbeat

    assert connection.vendor == "postgresql", "the suite runs on Postgres (scripts/run-tests.sh)"
    settings.HEARTBEAT_INTERVAL = 1
    environment = get_or_create_environment(alice)
    service = Service.objects.create(
        environment=environment, name="web", repository_url="https://example.com/a"
    )
    deployment = Deployment.objects.create(service=service, branch="main", state=State.BUILDING)
    heartbeat = Heartbeat(deployment.pk)
    heartbeat.start()
    try:

        def beat_after(moment):
            deployment.refresh_from_db()
            return deployment.heartbeat_at is not None and (
                moment is None or deployment.heartbeat_at > moment
            )

        eventually(lambda: beat_after(None), timeout=20)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query LIKE '%%heartbeat_at%%'"
            )
            assert cursor.fetchone()[0] >= 1
        cut = timezone.now()
        eventually(lambda: beat_after(cut), timeout=20, message="no beat after the connection was lost")
        assert heartbeat.is_alive()
        assert not heartbeat.cancelled.is_set()
    finally:
        heartbeat.stop()
