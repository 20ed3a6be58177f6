"""Environments on a real engine: own networks, variables at start, rollback, promote, cancel, delete."""

import docker
import pytest
import requests
from django.conf import settings

from deployments import actions, controls, variables
from deployments.models import Deployment
from environments.actions import create_environment, delete_environment
from tests import own
from tests.conftest import log_text, wait_for, wait_retired
from tests.waiting import eventually

pytestmark = [pytest.mark.docker]
State = Deployment.State


def engine():
    return docker.from_env()


def running(deployment):
    deployment = wait_for(deployment)
    assert deployment.state == State.RUNNING, log_text(deployment)
    return deployment


def test_services_reach_each_other_by_name_and_not_across_environments(worker, alice, make_repo):
    repo = make_repo("ticker")
    api = running(actions.deploy_repository(alice, name="api", repository_url=repo.url))
    web = running(actions.deploy_repository(alice, name="web", repository_url=repo.url))
    other = running(
        actions.deploy_repository(alice, name="web", repository_url=repo.url, environment="staging")
    )
    assert requests.get(web.url + "call/api", timeout=10).text == "reached: ticker v1"
    answer = requests.get(other.url + "call/api", timeout=10).text
    assert answer.startswith("unreachable:"), answer
    assert api.service.environment_id != other.service.environment_id


def test_variables_and_secrets_reach_the_container_but_not_the_log(worker, alice, make_repo):
    repo = make_repo("ticker")
    first = running(actions.deploy_repository(alice, name="web", repository_url=repo.url))
    service = first.service
    variables.set_variable(service.environment, "GREETING", "from the environment")
    variables.set_variable(service, "API_TOKEN", "tok-very-secret", secret=True)
    second = running(actions.request_deploy(service, alice))
    assert requests.get(second.url, timeout=5).text == "ticker v1 from the environment"
    (container,) = own.containers(deployment=second.pk, running=True)
    assert "API_TOKEN=tok-very-secret" in container.attrs["Config"]["Env"]
    assert "tok-very-secret" not in log_text(second)


def test_rollback_runs_the_old_image_without_rebuilding(worker, alice, make_repo):
    repo = make_repo("python-dockerfile")
    first = running(actions.deploy_repository(alice, name="web", repository_url=repo.url))
    repo.commit("v2", {"server.py": (repo.path / "server.py").read_text().replace("v1", "v2")})
    second = running(actions.request_deploy(first.service, alice))
    assert "v2" in requests.get(second.url, timeout=5).text
    first.refresh_from_db()
    assert first.state == State.SUPERSEDED

    back = running(controls.rollback(second.service, first, alice))
    assert "hello from python-dockerfile v1" in requests.get(back.url, timeout=5).text
    log = log_text(back)
    assert f"Using the image of deployment #{first.pk}" in log
    assert "Step 1/" not in log
    assert back.image == first.image
    assert back.commit_sha == first.commit_sha
    second = wait_retired(second)
    assert second.state == State.SUPERSEDED
    assert own.containers(deployment=second.pk) == []


def test_old_images_are_pruned_and_rolling_back_to_them_is_refused(
    worker_factory, transactional_db, settings, engine_clean_up, alice, make_repo
):
    settings.DEPLOY_QUEUE = worker_factory("keep-one", IMAGES_KEPT_PER_SERVICE="1").queue
    repo = make_repo("static-site")
    first = running(actions.deploy_repository(alice, name="web", repository_url=repo.url))
    oldest_image = first.image
    deployments = [first]
    for version in (2, 3):
        repo.commit(f"v{version}", {"index.html": f"<!doctype html><h1>version {version}</h1>"})
        deployments.append(running(actions.request_deploy(first.service, alice)))
    first, second, third = deployments

    def pruned() -> bool:  # after the second one is retired
        first.refresh_from_db()
        return not first.image

    eventually(pruned, timeout=60, interval=0.3, message="the oldest image was never pruned")
    assert engine().images.list(name=oldest_image) == []
    assert engine().images.list(name=third.image)
    with pytest.raises(controls.ActionError, match="deploy again to rebuild"):
        controls.rollback(first.service, first, alice)
    second.refresh_from_db()
    back = running(controls.rollback(second.service, second, alice))
    assert "version 2" in requests.get(back.url, timeout=5).text


def test_a_prune_leaves_the_image_a_deployment_in_flight_has_tagged_but_not_yet_written_down(
    transactional_db, settings, engine_clean_up, alice
):
    # The race CI met: the previous deployment's prune ran between the next one's tag and the
    # moment it wrote its image down, and the next one's start found no image.
    from deployments.models import Service
    from deployments.pipeline import _prune_images
    from deployments.runtime import get_runtime
    from environments.actions import get_or_create_environment

    settings.IMAGES_KEPT_PER_SERVICE = 1
    service = Service.objects.create(
        environment=get_or_create_environment(alice, "production"),
        name="web",
        repository_url="https://x/y.git",
    )
    repository = f"{settings.PLATFORM_NAME}-app/s{service.pk}"

    def deployment(state: str, tagged: bool) -> tuple[Deployment, str]:
        made = Deployment.objects.create(service=service, state=state, branch="main")
        tag = f"{repository}:d{made.pk}"
        engine().images.get("m3o-base/static:bookworm").tag(repository, tag=f"d{made.pk}")
        if tagged:
            Deployment.objects.filter(pk=made.pk).update(image=tag)
        return made, tag

    _, oldest = deployment(State.SUPERSEDED, tagged=True)
    _, kept = deployment(State.SUPERSEDED, tagged=True)
    _, live = deployment(State.RUNNING, tagged=True)
    _, building = deployment(State.BUILDING, tagged=False)
    _prune_images(get_runtime(), service)
    images = engine().images.list(name=repository)
    tags = {tag for image in images for tag in image.tags if tag.startswith(f"{repository}:")}
    assert tags == {kept, live, building}, f"{oldest} alone should have gone"


def test_promote_runs_the_same_image_in_another_environment(worker, alice, make_repo):
    staging_deployment = running(
        actions.deploy_repository(
            alice, name="web", repository_url=make_repo("static-site").url, environment="staging"
        )
    )
    production = create_environment(alice, name="production", kind="production")
    promoted = running(controls.promote(staging_deployment, production, alice))
    assert promoted.service.environment == production
    # The same image, under a tag of the promoted service's own.
    assert promoted.image == f"{settings.PLATFORM_NAME}-app/s{promoted.service_id}:d{promoted.pk}"
    assert engine().images.get(promoted.image).id == engine().images.get(staging_deployment.image).id
    assert "Step 1/" not in log_text(promoted)
    assert "hello from static-site" in requests.get(promoted.url, timeout=5).text

    # Deleting staging removes its images; production's stays, to run and roll back to.
    delete_environment(staging_deployment.service.environment, alice)
    eventually(lambda: not engine().images.list(name=staging_deployment.image), timeout=60)
    assert engine().images.list(name=promoted.image)
    controls.stop(promoted.service, alice)
    promoted.service.refresh_from_db()
    again = running(controls.start(promoted.service, alice))
    assert again.image == promoted.image


def test_stop_start_and_restart(worker, alice, make_repo):
    first = running(actions.deploy_repository(alice, name="web", repository_url=make_repo("ticker").url))
    service = first.service
    controls.stop(service, alice)
    first.refresh_from_db()
    assert first.state == State.STOPPED
    # A worker removes the instance right after the stop is committed.
    eventually(lambda: own.containers(deployment=first.pk) == [])
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{first.host_port}/", timeout=2)
    service.refresh_from_db()
    again = running(controls.start(service, alice))
    assert again.image == first.image
    assert requests.get(again.url, timeout=5).ok
    service.refresh_from_db()
    (container,) = own.containers(deployment=again.pk, running=True)
    started = container.attrs["State"]["StartedAt"]
    controls.restart(service, alice)

    def restarted() -> bool:
        container.reload()
        return container.attrs["State"]["StartedAt"] != started

    eventually(restarted, message="the instance was never restarted")


def test_cancel_stops_a_build_and_leaves_nothing(worker, alice, make_repo):
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
    controls.cancel(deployment, alice)
    # The step sleeps 120 s: a build that went on after the cancel would still be
    # running long after these deadlines, and would log its end.
    deployment = wait_for(deployment, timeout=60)
    assert deployment.state == State.CANCELLED
    assert "Stopped: the deployment is cancelled." in log_text(deployment)
    assert "a long step ends" not in log_text(deployment).splitlines()
    eventually(
        lambda: not own.build_steps(step),
        timeout=30,
        message="the build's container is still running after the cancel",
    )
    assert not engine().images.list(
        name=f"{settings.PLATFORM_NAME}-app/s{deployment.service_id}:d{deployment.pk}"
    )


def test_cancel_a_queued_deployment(worker, alice, make_repo, settings):
    settings.DEPLOY_QUEUE = "nobody-listens"
    deployment = actions.deploy_repository(alice, name="web", repository_url=make_repo("ticker").url)
    controls.cancel(deployment, alice)
    deployment.refresh_from_db()
    assert deployment.state == State.CANCELLED
    assert deployment.settled


def test_deleting_an_environment_removes_its_containers_and_network(worker, alice, make_repo):
    deployment = running(actions.deploy_repository(alice, name="web", repository_url=make_repo("ticker").url))
    environment = deployment.service.environment
    assert list(own.networks(environment.pk)) == [f"{settings.PLATFORM_NAME}-env-{environment.pk}"]
    delete_environment(environment, alice)
    eventually(lambda: own.containers(environment=environment.pk) == [])
    eventually(lambda: own.networks(environment.pk) == {})
    deployment.refresh_from_db()
    assert deployment.state == State.STOPPED
