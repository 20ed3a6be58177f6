"""The web process holds no engine connection: with the engine unreachable, every page,
control and domain change still works, and the engine work goes to the workers' queue."""

import docker
import pytest

from deployments import actions
from deployments.models import Deployment
from deployments.runtime import get_runtime

pytest_plugins = ["tests.queues"]  # deploy_queue: a real queue no worker reads
State = Deployment.State
YES = {"confirmed": "yes"}  # where a control asks first


@pytest.fixture
def dead_engine(monkeypatch):
    """DOCKER_HOST names a socket nobody serves; every client the process makes is counted."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/m3o-dead-engine.sock")
    get_runtime.cache_clear()
    made = []
    real = docker.DockerClient.__init__

    def counted(self, *args, **kwargs):
        made.append(kwargs.get("base_url") or (args[0] if args else None))
        real(self, *args, **kwargs)

    monkeypatch.setattr(docker.DockerClient, "__init__", counted)
    yield made
    get_runtime.cache_clear()  # the next test's runtime reads its own DOCKER_HOST


def running_service(user, name: str, environment: str = "production"):
    """A service as a worker leaves it once live (no worker here: none may be needed)."""
    deployment = actions.deploy_repository(
        user, name=name, repository_url=f"https://github.com/{user}/{name}.git", environment=environment
    )
    Deployment.objects.filter(pk=deployment.pk).update(state=State.RUNNING, instance_id="f" * 64)
    type(deployment.service).objects.filter(pk=deployment.service_id).update(live_deployment=deployment)
    deployment.service.refresh_from_db()
    return deployment.service


def test_pages_controls_and_domains_work_with_the_engine_away(
    transactional_db, client, alice, deploy_queue, dead_engine, fake_dns
):
    web = running_service(alice, "web")
    api = running_service(alice, "api", environment="staging")
    deployment = web.live_deployment
    client.force_login(alice)
    for page in (
        "/",
        f"/services/{web.pk}/",
        f"/services/{web.pk}/logs/",
        f"/services/{web.pk}/domains/",
        f"/deployments/{deployment.pk}/",
        f"/deployments/{deployment.pk}/log/",
        "/api/services/",
        f"/environments/{web.environment_id}/",
    ):
        assert client.get(page).status_code == 200, page

    # A *.localhost name resolves here; with its TXT record the check proves it and its routes change.
    answer = client.post(f"/services/{web.pk}/domains/add/", {"name": "shop.alice.localhost"}, follow=True)
    assert answer.status_code == 200
    domain = web.custom_domains.get()
    fake_dns.set(domain.txt_name, "TXT", domain.txt_value)
    assert client.post(f"/domains/{domain.pk}/check/", YES, follow=True).status_code == 200
    domain.refresh_from_db()
    assert domain.verified_at is not None, domain.check_result
    assert client.post(f"/domains/{domain.pk}/remove/", YES, follow=True).status_code == 200
    assert not web.custom_domains.exists()
    assert client.post(f"/services/{web.pk}/restart/", YES, follow=True).status_code == 200
    assert client.post(f"/services/{web.pk}/stop/", YES, follow=True).status_code == 200
    deployment.refresh_from_db()
    assert deployment.state == State.STOPPED
    typed = {"confirm_name": api.environment.name}
    assert client.post(f"/environments/{api.environment_id}/delete/", typed, follow=True).status_code == 200
    api.environment.refresh_from_db()
    assert api.environment.deleted_at is not None

    assert dead_engine == [], "the web process made an engine client"
    sent = [task for task, _args in deploy_queue.tasks()]
    assert sent.count("ingress.tasks.load_routes") >= 2  # the domain added, then removed
    assert "deployments.tasks.restart" in sent
    assert sent.count("deployments.tasks.converge") >= 2  # the stop and the deletion
