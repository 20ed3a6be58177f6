"""A Git repository becomes a running container: real worker, Redis, Docker."""

import threading
import time
from datetime import timedelta

import docker
import pytest
import requests
from django.conf import settings
from django.utils import timezone

from deployments import actions
from deployments.models import Deployment
from tests import own
from tests.conftest import log_text, wait_for, wait_retired
from tests.waiting import eventually

pytestmark = [pytest.mark.docker]


def engine():
    return docker.from_env()


def containers_of(deployment):
    return own.containers(deployment=deployment.pk)


def assert_running_and_answers(deployment, text):
    assert deployment.state == "running", log_text(deployment)
    response = requests.get(deployment.url, timeout=5)
    assert response.status_code == 200
    assert text in response.text
    return response


def deploy(user, repo, name="web", **kwargs):
    return wait_for(actions.deploy_repository(user, name=name, repository_url=repo.url, **kwargs))


def test_python_app_with_its_own_dockerfile_runs(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("python-dockerfile"))
    assert_running_and_answers(deployment, "hello from python-dockerfile v1")
    log = log_text(deployment)
    assert "Using the repository's Dockerfile." in log
    assert "Step 1/" in log
    assert deployment.commit_message == "First version of python-dockerfile"
    assert deployment.commit_author == "Alice"
    assert len(deployment.commit_sha) == 40


def test_python_app_without_dockerfile_is_detected(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("python-detected"))
    # The app imports a package that pip fetched from PyPI during the build.
    assert_running_and_answers(deployment, "hello from python-detected: six")
    assert "detected a python app" in log_text(deployment)


def test_node_app_without_dockerfile_is_detected(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("node-detected"))
    assert_running_and_answers(deployment, "hello from node-detected")
    assert "npm start" in log_text(deployment)


def test_static_site_is_served(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("static-site"))
    assert_running_and_answers(deployment, "hello from static-site")


def test_go_app_without_dockerfile_is_detected(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("go-detected"))
    assert_running_and_answers(deployment, "hello from go-detected")


def test_service_in_a_subdirectory_of_a_monorepo(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("monorepo"), name="api", subdirectory="services/api")
    assert_running_and_answers(deployment, "monorepo api")


def test_container_is_confined(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("python-dockerfile"))
    assert deployment.state == "running", log_text(deployment)
    (container,) = containers_of(deployment)
    host = container.attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Privileged"] is False
    assert host["Memory"] == settings.INSTANCE_MEMORY_MB * 1024 * 1024
    assert host["PidsLimit"] == settings.INSTANCE_PIDS
    assert host["LogConfig"]["Config"]["max-size"]
    assert not any("docker.sock" in bind for bind in host.get("Binds") or [])
    assert container.attrs["Config"]["User"] == "app"
    assert "PORT=8080" in container.attrs["Config"]["Env"]
    assert host["PortBindings"]["8080/tcp"][0]["HostIp"] == "127.0.0.1"
    (network,) = container.attrs["NetworkSettings"]["Networks"].values()
    assert "web" in network["Aliases"]


def test_redeploy_goes_live_before_the_old_container_is_removed(worker, alice, make_repo):
    repo = make_repo("python-dockerfile")
    first = deploy(alice, repo)
    assert_running_and_answers(first, "v1")
    (old_container,) = containers_of(first)
    repo.commit("Version 2", {"server.py": (repo.path / "server.py").read_text().replace("v1", "v2")})

    since = int(time.time()) - 1
    second = deploy(alice, repo)
    assert_running_and_answers(second, "hello from python-dockerfile v2")
    first.refresh_from_db()
    assert first.state == "superseded"
    # Settled and serving while the old one still drains; it goes once the drain is over.
    assert first.retire_after >= second.healthy_at
    first = wait_retired(first)
    assert (first.retired_at - second.healthy_at).total_seconds() >= settings.INGRESS_DRAIN_SECONDS
    assert containers_of(first) == []
    # The engine's own record of the order: the new container started before the old one died.
    events = engine().events(
        since=since, until=int(time.time()) + 1, decode=True, filters={"type": "container"}
    )
    order = [
        (e["Action"], e["id"])
        for e in events
        if e["Action"] in ("start", "destroy")
        and e["Actor"]["Attributes"].get("org.m3o.service") == str(second.service_id)
    ]
    (new_container,) = containers_of(second)
    assert order.index(("start", new_container.id)) < order.index(("destroy", old_container.id))
    assert "Previous deployment" in log_text(second)
    assert "Using cache" in log_text(second), "the layer cache of the first build was not reused"


def test_failed_redeploy_leaves_the_old_deployment_serving(worker, alice, make_repo):
    repo = make_repo("python-dockerfile")
    first = deploy(alice, repo)
    assert_running_and_answers(first, "v1")
    repo.commit("Broken", {"server.py": "raise SystemExit('broken on purpose')\n"})
    second = deploy(alice, repo)
    assert second.state == "failed"
    first.refresh_from_db()
    assert first.state == "running"
    assert_running_and_answers(first, "v1")
    assert first.service.__class__.objects.get(pk=first.service_id).live_deployment_id == first.pk


def assert_nothing_left(deployment):
    """No container, image or environment network of the deployment, and no checkout."""
    assert own.left_of(deployment) == {"containers": [], "images": [], "networks": []}
    assert not list(settings.WORKSPACE_DIR.glob(f"d{deployment.pk}-*")), "the checkout was left behind"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///nonexistent/repository.git", "No repository was found"),
        # A private address over https is refused in the form; over http it is a local git server.
        ("http://127.0.0.1:9/nobody/nothing.git", "could not be reached"),
    ],
)
def test_unreachable_repository_fails_clearly(worker, alice, url, message):
    deployment = wait_for(actions.deploy_repository(alice, name="web", repository_url=url))
    assert deployment.state == "failed"
    assert message in deployment.failure_reason
    assert_nothing_left(deployment)


def test_unknown_branch_fails_clearly(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("python-dockerfile"), branch="no-such-branch")
    assert deployment.state == "failed"
    assert (
        deployment.failure_reason
        == f"Branch 'no-such-branch' was not found in {deployment.service.repository_url}."
    )
    assert_nothing_left(deployment)


def test_no_dockerfile_and_no_known_language_says_what_was_looked_for(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("no-language"))
    assert deployment.state == "failed"
    assert "looked for a Dockerfile, requirements.txt" in deployment.failure_reason
    assert "package.json" in deployment.failure_reason
    assert_nothing_left(deployment)


def test_failing_run_step_fails_the_build_with_its_output(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("failing-run"))
    assert deployment.state == "failed"
    assert "The build failed" in deployment.failure_reason
    assert "returned a non-zero code: 3" in deployment.failure_reason
    assert "about to fail" in log_text(deployment)
    assert_nothing_left(deployment)


def test_app_that_exits_at_start_fails_with_its_last_words(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("crash-at-start"))
    assert deployment.state == "failed"
    assert "exited with code 3" in deployment.failure_reason
    assert "boom: DATABASE_URL is not set" in log_text(deployment)
    assert_nothing_left(deployment)


def test_app_that_never_listens_times_out(
    impatient_worker, transactional_db, settings, engine_clean_up, alice, make_repo
):
    settings.DEPLOY_QUEUE = impatient_worker.queue
    deployment = deploy(alice, make_repo("never-listens"))
    assert deployment.state == "failed"
    assert "did not answer HTTP on port 8080 within 5 s" in deployment.failure_reason
    assert "started, but listening on nothing" in log_text(deployment)
    assert_nothing_left(deployment)


@pytest.fixture(scope="module")
def impatient_worker(worker_factory):
    # Long enough to reach the 120 s RUN step even on a busy machine. An app that never
    # listens waits out the whole health timeout, so a short one saves the suite its wait.
    return worker_factory("impatient", BUILD_TIMEOUT="20", HEALTH_TIMEOUT="5")


def test_build_over_the_time_limit_is_stopped(
    impatient_worker, transactional_db, settings, engine_clean_up, alice, make_repo
):
    settings.DEPLOY_QUEUE = impatient_worker.queue
    repo, step = own.slow_build(make_repo)
    deployment = deploy(alice, repo)
    assert deployment.state == "failed"
    assert deployment.failure_reason == "The build timed out after 20 s and was stopped."
    assert "a long step begins" in log_text(deployment)
    assert "a long step ends" not in log_text(deployment).splitlines()
    assert_nothing_left(deployment)
    # The engine stopped the build too: no container is still sleeping through the step.
    eventually(lambda: not own.build_steps(step), timeout=30, message="the build's container still runs")


def test_worker_killed_mid_build_is_reaped(
    worker_factory, transactional_db, settings, engine_clean_up, alice, make_repo
):
    doomed = worker_factory("doomed")
    settings.DEPLOY_QUEUE = doomed.queue
    repo, step = own.slow_build(make_repo)
    deployment = actions.deploy_repository(alice, name="web", repository_url=repo.url)
    eventually(
        lambda: "a long step begins" in log_text(deployment),
        timeout=120,
        interval=0.3,
        message=lambda: log_text(deployment),
    )
    # The words above are also in the "Step 2/3 : RUN echo ..." line, logged before the step runs.
    eventually(lambda: own.build_steps(step), timeout=60, message="the long step never ran")
    doomed.kill()
    deployment.refresh_from_db()
    assert deployment.state == "building"
    # Its heartbeat stops with the worker: once it is 2 s old the reaper takes it.
    reaped = eventually(lambda: actions.reap_stale_deployments(stale_after=2), timeout=30, interval=0.5)
    assert reaped == [deployment.pk]
    deployment.refresh_from_db()
    assert deployment.state == "failed"
    assert "worker running this deployment stopped" in deployment.failure_reason
    assert deployment.log_complete
    eventually(lambda: containers_of(deployment) == [], timeout=30, message="its containers are still there")
    eventually(lambda: not own.build_steps(step), timeout=30, message="the build's container still runs")
    # A second delivery of the same task finds nothing to do.
    from deployments import pipeline

    assert pipeline.run(deployment.pk) is None
    deployment.refresh_from_db()
    assert deployment.state == "failed"


def test_a_superseded_instance_whose_retirement_was_lost_is_removed_by_the_reaper(
    worker_factory, transactional_db, settings, engine_clean_up, alice, make_repo
):
    doomed = worker_factory("lost-retirement", INGRESS_DRAIN_SECONDS="600")
    settings.DEPLOY_QUEUE = doomed.queue
    repo = make_repo("python-dockerfile")
    first = deploy(alice, repo)
    assert_running_and_answers(first, "v1")
    repo.commit("Version 2", {"server.py": (repo.path / "server.py").read_text().replace("v1", "v2")})
    second = deploy(alice, repo)
    assert_running_and_answers(second, "v2")
    doomed.kill()  # during the drain: the task that would remove the old instance is gone
    first.refresh_from_db()
    assert (first.state, first.retired_at) == ("superseded", None)
    assert containers_of(first)
    assert actions.reap_stale_deployments(stale_after=5) == []
    assert containers_of(first), "retired before its drain was over"

    Deployment.objects.filter(pk=first.pk).update(retire_after=timezone.now() - timedelta(seconds=6))
    actions.reap_stale_deployments(stale_after=5)
    first.refresh_from_db()
    assert first.retired_at is not None
    assert containers_of(first) == []
    assert_running_and_answers(second, "v2")


def test_engine_unreachable_is_retried_then_failed_for_the_operator(
    worker_factory, transactional_db, settings, alice, make_repo
):
    stranded = worker_factory(
        "stranded", DOCKER_HOST="unix:///nonexistent/docker.sock", DEPLOY_MAX_RETRIES="2"
    )
    settings.DEPLOY_QUEUE = stranded.queue
    deployment = deploy(alice, make_repo("python-dockerfile"), name="web")
    assert deployment.state == "failed"
    assert "could not run this deployment after 3 attempts" in deployment.failure_reason
    assert "container engine could not be reached" in deployment.failure_reason
    assert deployment.attempts == 2
    assert log_text(deployment).count("retrying in") == 2
    # The delay doubles each time (the tests' workers start from DEPLOY_RETRY_DELAY=1).
    assert "retrying in 1 s (attempt 2)" in log_text(deployment)
    assert "retrying in 2 s (attempt 3)" in log_text(deployment)


def test_two_removals_of_one_container_both_succeed(engine_clean_up):
    """A retirement meeting a deletion: neither fails, and the container is gone after each."""
    from deployments.runtime import get_runtime

    container = engine().containers.run(
        f"{settings.BASE_IMAGE_PREFIX}/debian:bookworm", ["sleep", "60"], detach=True, init=True,
        labels={"org.m3o.platform": settings.PLATFORM_NAME, "org.m3o.deployment": "987654"},
    )  # fmt: skip
    runtime, errors = get_runtime(), []

    def attempt(remove, *args):
        try:
            remove(*args)
            assert engine().containers.list(all=True, filters={"id": container.id}) == []
        except Exception as exc:  # noqa: BLE001  (reported below, whatever it is)
            errors.append(exc)

    threads = [
        threading.Thread(target=attempt, args=(runtime.remove, container.id)),
        threading.Thread(target=attempt, args=(runtime.remove_deployment, 987654)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
