"""README promises about a running service, through the real `m3o` command and so the API,
on one deployment: a port other than 8080 through the proxy, a crashed instance coming back,
restart, start, promote, cancel, environment copy and delete, members and `m3o vars`."""

import json
import os
import signal

import docker
import pytest
import requests

from api import tokens
from deployments import variables
from deployments.models import Deployment, Service, Variable
from environments.models import Environment
from ingress.names import service_url
from tests.test_api import api_client
from tests.test_cli import M3O, live
from tests.waiting import eventually

pytestmark = [pytest.mark.docker]
State = Deployment.State


def logged_in(live_server, alice, tmp_path) -> M3O:
    cli = M3O(tmp_path / "config", live_server.url)
    _, raw = tokens.create_token(alice, "cli")
    cli.ok("login", "--url", live_server.url, "--token", raw)
    return cli


@pytest.fixture
def m3o(live_server, worker, alice, tmp_path):
    """The CLI, logged in as alice, against a live server and the tests' worker."""
    return logged_in(live_server, alice, tmp_path)


@pytest.fixture
def m3o_queueing(live_server, transactional_db, alice, tmp_path, settings):
    """The same, with deployments queued where no worker listens: nothing reaches the engine."""
    settings.DEPLOY_QUEUE = "nobody-listens"
    return logged_in(live_server, alice, tmp_path)


def answers(service: Service) -> str:
    """The service's own address, through the proxy, as a visitor gets it."""
    url = service_url(Service.objects.get(pk=service.pk))

    def get() -> str | None:
        response = requests.get(url, timeout=5)
        return response.text if response.status_code == 200 else None

    return eventually(get, timeout=30, message=f"{url} does not answer")


def container(deployment: Deployment):
    return docker.from_env().containers.get(deployment.instance_id)


def test_a_service_on_port_9090_survives_a_crash_restarts_starts_and_is_promoted(
    m3o, make_repo, alice, localhost_names
):
    repo = make_repo("static-site")
    assert "is running at" in m3o.ok("run", repo.url, "--name", "site", "--port", "9090")
    first = live("site", "production")
    assert "PORT=9090" in container(first).attrs["Config"]["Env"]
    assert "hello from static-site" in answers(first.service)

    # Its process killed from outside (an OOM kill, a crash): the engine starts it again, and
    # the proxy sends to it again.
    os.kill(container(first).attrs["State"]["Pid"], signal.SIGKILL)
    eventually(lambda: container(first).attrs["RestartCount"] >= 1, timeout=30, message="never restarted")
    assert "hello from static-site" in answers(first.service)
    assert live("site", "production").pk == first.pk

    started = container(first).attrs["State"]["StartedAt"]
    assert m3o.ok("restart", "site").strip() == "site restarted."
    eventually(lambda: container(first).attrs["State"]["StartedAt"] != started, message="not restarted")
    assert "hello from static-site" in answers(first.service)

    stopped = api_client(alice).post(f"/api/services/{first.service_id}/stop/")
    assert stopped.json()["state"] == State.STOPPED
    assert "is running at" in m3o.ok("start", "site")
    again = live("site", "production")
    assert again.pk != first.pk
    assert "hello from static-site" in answers(again.service)

    m3o.ok("env", "create", "staging")
    assert "is running at" in m3o.ok("promote", "site", "--to", "staging")
    promoted = live("site", "staging")
    images = docker.from_env().images
    assert images.get(promoted.image).id == images.get(again.image).id  # the same image, not built again
    assert "hello from static-site" in answers(promoted.service)
    refused = m3o("promote", "site", "--to", "nowhere")
    assert refused.returncode == 1
    assert "There is no environment called nowhere" in refused.stderr


def live_state(deployment: Deployment) -> str:
    deployment.refresh_from_db()
    return deployment.state


def test_cancel_copy_delete_members_and_vars_through_the_cli(m3o_queueing, make_repo, bob):
    m3o = m3o_queueing
    repo = make_repo("static-site")
    # Still queued when cancelled, as nobody takes it (and production is made).
    m3o.ok("run", repo.url, "--name", "site", "--detach")
    queued = Deployment.objects.get(service__name="site")
    assert m3o.ok("cancel", "site").strip() == f"Cancelled deployment #{queued.pk} of site."
    assert live_state(queued) == State.CANCELLED

    # The environment's variables, then the service's own (a secret).
    m3o.ok("vars", "set", "MODE=fast")
    assert m3o.ok("vars", "set", "--secret", "--service", "site", "TOKEN=hunter2").strip() == (
        "Set TOKEN. Redeploy to give them to the running app."
    )
    listed = m3o.ok("vars", "list")
    assert "MODE" in listed
    assert "fast" in listed
    for shown in (
        m3o.ok("vars", "list", "--service", "site"),
        m3o.ok("vars", "list", "-s", "site", "--json"),
    ):
        assert "TOKEN" in shown
        assert "hunter2" not in shown
    assert "(secret)" in m3o.ok("vars", "list", "--service", "site")
    as_json = json.loads(m3o.ok("vars", "list", "--service", "site", "--json"))
    assert [(v["key"], v["value"], v["secret"]) for v in as_json] == [("TOKEN", None, True)]
    assert m3o.ok("vars", "unset", "MODE").strip() == "Removed MODE."
    assert not Variable.objects.filter(key="MODE").exists()

    # A copy takes the services with their variables (the secret too: alice owns the original).
    assert m3o.ok("env", "create", "dev-ana", "--copy-from", "production").strip() == (
        "Environment dev-ana created. Copying production."
    )
    copied = json.loads(m3o.ok("vars", "list", "--env", "dev-ana", "--service", "site", "--json"))
    assert [(v["key"], v["value"]) for v in copied] == [("TOKEN", None)]
    copy = Service.objects.get(name="site", environment__name="dev-ana")
    assert variables.resolve(copy) == {"TOKEN": "hunter2"}
    assert copy.deployments.count() == 1  # and deployed
    assert m3o.ok("env", "delete", "dev-ana", "--yes").strip() == "Environment dev-ana deleted."
    assert Environment.objects.get(name="dev-ana").deleted_at is not None  # its history stays

    _, bobs = tokens.create_token(bob, "bob")
    as_bob = api_client(raw=bobs)
    assert m3o.ok("members", "add", "bob@example.com").strip() == "bob@example.com is member in production."
    assert m3o.ok("members", "add", "bob@example.com", "--role", "admin").strip() == (
        "bob@example.com is admin in production."
    )
    assert [(m["email"], m["role"]) for m in json.loads(m3o.ok("members", "list", "--json"))] == [
        ("bob@example.com", "admin")
    ]
    assert [(e["name"], e["role"]) for e in as_bob.get("/api/environments/").json()["results"]] == [
        ("production", "admin")
    ]
    assert (
        m3o.ok("members", "remove", "bob@example.com").strip() == "bob@example.com removed from production."
    )
    assert as_bob.get("/api/environments/").json()["results"] == []
    unknown = m3o("members", "add", "nobody@example.com")
    assert unknown.returncode == 1
    assert "Nobody with the email address nobody@example.com has an account here yet." in unknown.stderr
