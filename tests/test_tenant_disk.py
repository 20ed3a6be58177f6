"""The disk a user's kept images take is bounded by TENANT_IMAGES_MB: real worker, real engine."""

import io

import docker
import pytest
from django.conf import settings

from deployments import actions
from tests.conftest import log_text, wait_for

pytestmark = [pytest.mark.docker]

BOUND_MB = 2
BIG_APP = (
    "FROM m3o-base/python:bookworm\nWORKDIR /app\nCOPY server.py blob.txt ./\n"
    'USER app\nCMD ["python", "server.py"]\n'
)


@pytest.fixture(scope="module")
def small_disk_worker(worker_factory):
    return worker_factory("small-disk", TENANT_IMAGES_MB=str(BOUND_MB))


@pytest.fixture
def worker(small_disk_worker, transactional_db, settings, engine_clean_up):
    settings.DEPLOY_QUEUE = small_disk_worker.queue
    return small_disk_worker


def deploy(user, repo, name="web"):
    return wait_for(actions.deploy_repository(user, name=name, repository_url=repo.url))


def app_images(service_id):
    return docker.from_env().images.list(name=f"{settings.PLATFORM_NAME}-app/s{service_id}")


def test_a_build_that_would_carry_the_user_past_the_bound_is_not_kept(worker, alice, make_repo):
    repo = make_repo("python-dockerfile")
    repo.commit("three megabytes of data", {"blob.txt": "x" * 3_000_000, "Dockerfile": BIG_APP})
    deployment = deploy(alice, repo)
    assert deployment.state == "failed"
    assert deployment.failure_reason.startswith(
        "This build's image would bring your images to 3 MB of the 2 MB"
    )
    assert "Delete services you no longer need" in deployment.failure_reason
    assert "Step 1/" in log_text(deployment)
    assert app_images(deployment.service_id) == [], "the image past the bound was not removed"


def test_a_user_at_the_bound_builds_nothing_and_others_are_not_held_back(worker, alice, bob, make_repo):
    first = deploy(alice, make_repo("python-dockerfile"))
    assert first.state == "running", log_text(first)
    # An image kept from before the bound was lowered, three megabytes of the user's own.
    kept = f"{settings.PLATFORM_NAME}-app/s{first.service_id}:d{first.pk + 100000}"
    dockerfile = "FROM m3o-base/static:bookworm\nRUN head -c 3000000 /dev/urandom > /blob\n"
    docker.from_env().images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=kept, rm=True, network_mode="none"
    )

    again = wait_for(actions.request_deploy(first.service, alice))
    assert again.state == "failed"
    assert again.failure_reason.startswith("Your images take 3 MB of the 2 MB your account's images may take")
    assert "Step 1/" not in log_text(again), "nothing was built"
    assert sorted(tag for image in app_images(first.service_id) for tag in image.tags) == sorted(
        [first.image, kept]
    )
    first.refresh_from_db()
    assert first.state == "running"

    theirs = deploy(bob, make_repo("python-dockerfile"), name="bobs")
    assert theirs.state == "running", log_text(theirs)
