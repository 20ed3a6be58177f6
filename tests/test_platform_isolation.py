"""Two installations on one engine (README: PLATFORM_NAME "put on every container, image and
network, so installations sharing an engine never touch each other")."""

import uuid

import docker
import pytest
from django.utils import timezone

from deployments import reconcile
from deployments.models import Deployment, Service
from deployments.runtime.base import InstanceSpec
from deployments.runtime.docker import DockerRuntime, network_name
from environments.models import Environment
from tests.own import clean_engine

pytestmark = [pytest.mark.docker]


def test_one_installations_reconciler_leaves_anothers_containers_networks_and_images(
    transactional_db, engine_clean_up, alice, settings
):
    ours = settings.PLATFORM_NAME
    theirs = f"{ours}-neighbour-{uuid.uuid4().hex[:8]}"
    # What our database says of these ids: the environment is deleted and its one deployment
    # failed, so our reconciler removes whatever of ours carries them.
    environment = Environment.objects.create(owner=alice, name="gone", deleted_at=timezone.now())
    service = Service.objects.create(
        environment=environment, name="web", repository_url="https://example.com/w.git"
    )
    deployment = Deployment.objects.create(service=service, branch="main", state=Deployment.State.FAILED)

    def leave_an_instance(platform: str) -> tuple[str, str]:
        """A network, an image and a running container, made as that installation's worker makes them."""
        settings.PLATFORM_NAME = platform
        runtime = DockerRuntime()
        image = runtime.tag_image(settings.BASE_IMAGES["static"], service.pk, deployment.pk)
        spec = InstanceSpec(
            service_id=service.pk, environment_id=environment.pk, deployment_id=deployment.pk,
            alias="web", image=image, port=8080, command=("sleep", "600"),
        )  # fmt: skip
        return image, runtime.start(spec).id

    engine = docker.from_env()
    try:
        try:
            their_image, their_container = leave_an_instance(theirs)
            their_network = network_name(environment.pk)  # named while PLATFORM_NAME is theirs
            our_image, our_container = leave_an_instance(ours)
        finally:
            settings.PLATFORM_NAME = ours
        changes = reconcile.reconcile()
        # Ours, with the same ids, went: the pass did remove what nothing owns.
        assert f"removed instance {our_container[:12]} of deployment {deployment.pk}" in changes
        assert f"removed the network of environment {environment.pk}" in changes
        assert f"removed image {our_image} of service {service.pk}" in changes
        assert their_container[:12] not in " ".join(changes)
        assert their_image not in changes
        # Theirs is as it was.
        assert engine.containers.get(their_container).status == "running"
        assert [n.name for n in engine.networks.list(names=[their_network])] == [their_network]
        assert their_image in engine.images.get(their_image).tags
        assert engine.containers.list(all=True, filters={"id": our_container}) == []
    finally:
        clean_engine(theirs)  # the neighbour's things (the fixture's clean-up removes only ours)
