"""What a test made on the Docker engine (its own containers, networks, images), found by its
ids; and the clean-up after the tests.

A test asks only about its own deployments, services and environments, found by the ids
the platform puts in its labels and names, together with PLATFORM_NAME. So another
test's leftovers, a worker still cleaning up after the previous test, or another
installation's run on the same engine never make one of its assertions pass or fail.
The ids come from the database: its sequences never go back within a run (tests/db_flush.py
empties the tables with DELETE, not TRUNCATE), and the session starts by removing what an
earlier, killed run of this platform left, so a fresh test database's ids meet nothing old.
(tests/test_sqlite_deploys.py counts from 1 in a database of its own, between two clean-ups.)

scripts/check-test-engine.py (make lint) keeps every listing of the engine in tests/ to
this module or to a filter by id or name.
"""

import uuid
from contextlib import suppress

import docker
from django.conf import settings
from docker.models.containers import Container

from deployments.runtime.docker import LABEL, image_repository

# A worker may remove the same things at the same moment: gone is fine.
_GONE = (docker.errors.NotFound, docker.errors.APIError)


def client() -> docker.DockerClient:
    return docker.from_env()


def _own_labels(ids: dict[str, int | None]) -> dict[str, list[str]]:
    given = {key: value for key, value in ids.items() if value is not None}
    if not given:
        raise ValueError("name the test's own deployment, service or environment")
    own = [f"{LABEL}.{key}={value}" for key, value in given.items()]
    return {"label": [f"{LABEL}.platform={settings.PLATFORM_NAME}", *own]}


def containers(
    *, deployment: int | None = None, service: int | None = None, environment: int | None = None,
    running: bool = False,
) -> list[Container]:  # fmt: skip
    """This platform's containers with these ids (all of them, or the running ones), inspected.

    Listed sparse first: a full list inspects each container, and one a worker removes in
    between answers 404. One gone by the time it is inspected is left out."""
    engine = client()
    filters = _own_labels({"deployment": deployment, "service": service, "environment": environment})
    found = []
    for summary in engine.containers.list(all=not running, sparse=True, filters=filters):
        with suppress(docker.errors.NotFound):
            found.append(engine.containers.get(summary.id))
    return found


def networks(*environment_ids: int) -> dict[str, str]:
    """{name: subnet} of this platform's networks of these environments."""
    if not environment_ids:
        raise ValueError("name the test's own environments")
    wanted = {str(environment_id) for environment_id in environment_ids}
    found = client().api.networks(filters={"label": f"{LABEL}.platform={settings.PLATFORM_NAME}"})
    return {
        network["Name"]: ((network.get("IPAM") or {}).get("Config") or [{}])[0].get("Subnet", "")
        for network in found
        if (network.get("Labels") or {}).get(f"{LABEL}.environment") in wanted
    }


def images(*service_ids: int) -> list[str]:
    """The tags of this platform's app images of these services."""
    if not service_ids:
        raise ValueError("name the test's own services")
    prefixes = tuple(f"{image_repository(service_id)}:" for service_id in service_ids)
    # The summaries, not images.list(): that inspects each image, and one pruned meanwhile is a 404.
    return sorted(
        tag
        for summary in client().api.images()
        for tag in summary.get("RepoTags") or ()
        if tag.startswith(prefixes)
    )


def left_of(deployment) -> dict[str, list[str]]:
    """What the engine still holds of one deployment: its containers, its image, and its
    environment's network."""
    return {
        "containers": [container.name for container in containers(deployment=deployment.pk)],
        "images": [tag for tag in images(deployment.service_id) if tag.endswith(f":d{deployment.pk}")],
        "networks": sorted(networks(deployment.service.environment_id)),
    }


def build_steps(marker: str) -> list[str]:
    """Running build containers whose command holds the marker. The classic builder's step
    containers carry no label; the test puts a marker of its own into its RUN line
    (see slow_build)."""
    running = client().api.containers(filters={"status": "running"})
    return [summary["Id"] for summary in running if marker in summary.get("Command", "")]


def slow_build(make_repo):
    """tests/apps/slow-build (a 120 s step) with a marker of this test's own in that step's
    command, for build_steps; returns (repository, marker)."""
    repo = make_repo("slow-build")
    marker = f"m3o-test-step-{uuid.uuid4().hex}"
    dockerfile = (repo.path / "Dockerfile").read_text()
    marked = dockerfile.replace('echo "a long step ends"', f'echo "a long step ends" && : {marker}')
    assert marked != dockerfile, "slow-build's Dockerfile changed: mark its long step again"
    repo.commit("a long step of its own", {"Dockerfile": marked})
    return repo, marker


def clean_engine(platform: str | None = None) -> None:
    """Remove every container, network and app image of this test platform (or of another
    one a test made)."""
    platform = platform or settings.PLATFORM_NAME
    try:
        engine = client()
    except docker.errors.DockerException:
        return
    label = {"label": f"{LABEL}.platform={platform}"}
    for container in engine.containers.list(all=True, sparse=True, filters=label):
        with suppress(*_GONE):
            container.remove(force=True)
    for network in engine.networks.list(filters=label):
        with suppress(*_GONE):
            network.remove()
    for summary in engine.api.images():
        for tag in summary.get("RepoTags") or ():
            if tag.startswith(f"{platform}-app/"):
                with suppress(*_GONE):
                    engine.images.remove(tag, noprune=True)
