"""Process types (issue 15): every Procfile line besides web and release runs as a container of
its own, supervised and shown. Real worker, Docker engine, Redis, and the real `m3o` command.

One deploy carries most of the checks (builds are the slow part): the web answers, the worker's
lines reach its own logs, its restarts are counted in the API and `m3o ps`, the reconciler brings
a removed worker back, another tenant sees none of it, and a stop removes everything.
"""

import re
import time

import docker
import pytest
import requests
from django.test import Client
from django.urls import reverse

from api import tokens
from deployments import actions, controls, reconcile
from deployments.models import Deployment, Instance, Process, Service
from deployments.pipeline import process_spec
from deployments.runtime import get_runtime
from tests import own
from tests.conftest import log_text, wait_for
from tests.test_api import api_client
from tests.test_cli import M3O
from tests.waiting import eventually

pytestmark = [pytest.mark.docker]
State = Deployment.State


def containers_of(deployment: Deployment) -> list:
    found = own.containers(deployment=deployment.pk)
    return sorted(found, key=lambda c: c.labels.get("org.m3o.process", ""))


def processes(client, service: Service) -> dict[str, dict]:
    answer = client.get(f"/api/services/{service.pk}/processes/")
    assert answer.status_code == 200, answer.content
    return {row["type"]: row for row in answer.json()}


def worker_lines(client, service: Service) -> str:
    answer = client.get(f"/api/services/{service.pk}/logs/", {"process": "worker"})
    assert answer.status_code == 200, answer.content
    return "\n".join(line["text"] for line in answer.json()["lines"])


def test_web_worker_and_release_run_and_the_worker_is_supervised(
    worker, alice, bob, make_repo, live_server, tmp_path
):
    repo = make_repo("process-types")
    deployment = wait_for(actions.deploy_repository(alice, name="procs", repository_url=repo.url))
    assert deployment.state == State.RUNNING, f"{deployment.failure_reason}\n{log_text(deployment)}"
    log = log_text(deployment)
    assert "release ran" in log  # the release line ran once, before the switch
    assert "==> Started the process types worker (restarted whenever they exit)" in log
    assert requests.get(deployment.url, timeout=5).text == "hello from process-types"
    service = deployment.service

    web, worker_container = containers_of(deployment)
    assert (web.labels["org.m3o.process"], worker_container.labels["org.m3o.process"]) == ("web", "worker")
    # The worker: same image, no published port, restarted by the engine whenever it exits.
    assert worker_container.image.id == web.image.id
    assert not worker_container.attrs["HostConfig"]["PortBindings"]
    assert worker_container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"

    alices = api_client(alice)
    eventually(lambda: "worker up, PORT is" in worker_lines(alices, service), timeout=30,
               message=lambda: f"no worker lines: {worker_lines(alices, service)!r}")  # fmt: skip
    assert "worker crashing now" not in "\n".join(
        line["text"] for line in alices.get(f"/api/services/{service.pk}/logs/").json()["lines"]
    )  # the web's own stream has only the web's lines
    eventually(lambda: processes(alices, service)["worker"]["restarts"] >= 2, timeout=40,
               message=lambda: f"no restarts counted: {processes(alices, service)}")  # fmt: skip
    shown = processes(alices, service)
    assert list(shown) == ["web", "worker"]
    assert shown["web"]["state"] == "running"
    assert shown["web"]["running"] == 1
    assert shown["worker"]["command"] == "python worker.py"

    # The CLI shows the same, through the same endpoint.
    cli = M3O(tmp_path / "config", live_server.url)
    cli.ok("login", "--url", live_server.url, "--token", tokens.create_token(alice, "cli")[1])
    table = cli.ok("ps", "procs")
    worker_row = next(line.split() for line in table.splitlines() if line.startswith("worker"))
    assert worker_row[1] in ("0/1", "1/1")  # running or between two of its runs
    assert int(worker_row[3]) >= 2, table
    assert "worker crashing now" in cli.ok("logs", "procs", "--process", "worker")

    # The service page's Processes table says the same.
    browser = Client()
    browser.force_login(alice)
    html = browser.get(reverse("service", args=[service.pk])).content.decode()
    worker_html = re.search(r'<tr data-process="worker">.*?</tr>', html, re.S).group(0)
    assert "python worker.py" in worker_html
    assert re.search(r"<td>([0-9]+)</td>\s*<td><code>python worker.py", worker_html).group(1) != "0"
    assert '<option value="worker">worker</option>' in html  # the runtime log's process picker
    page_log = browser.get(reverse("service-logs", args=[service.pk]), {"process": "worker"}).json()
    assert "worker crashing now" in [line["text"] for line in page_log["lines"]]

    # Bob, another tenant, gets nothing of it; junk in the process name is refused.
    bobs = api_client(bob)
    assert bobs.get(f"/api/services/{service.pk}/processes/").status_code == 404
    assert bobs.get(f"/api/services/{service.pk}/logs/", {"process": "worker"}).status_code == 404
    assert alices.get(f"/api/services/{service.pk}/logs/", {"process": "../web"}).status_code == 400

    # A worker container removed behind the platform's back: the reconciler starts another.
    before = Instance.objects.get(process__deployment=deployment, process__name="worker")
    worker_container.remove(force=True)
    reconcile.reconcile()
    after = Instance.objects.get(pk=before.pk)
    assert after.container_id != before.container_id
    assert after.restarts > before.restarts  # the replaced one's restarts still count
    assert docker.from_env().containers.get(after.container_id).labels["org.m3o.process"] == "worker"
    assert len(containers_of(deployment)) == 2
    # A worker container no instance row names (a pass that died before writing it down): removed.
    worker_type = Process.objects.get(deployment=deployment, name="worker")
    stray = get_runtime().start(process_spec(service, deployment.pk, deployment.image, worker_type, 1))
    reconcile.reconcile()
    assert [c.id for c in containers_of(deployment)] == [web.id, after.container_id]
    assert docker.from_env().containers.list(all=True, filters={"id": stray.id}) == []

    # A restart restarts the worker too, as it does the web. (The engine's own restarts of the
    # crashing worker send no "restart" event; a restart asked of it does.)
    since = int(time.time())

    def restarted() -> bool:
        until = int(time.time()) + 1
        found = {"container": after.container_id, "event": "restart"}
        return any(docker.from_env().events(since=since, until=until, decode=True, filters=found))

    controls.restart(Service.objects.get(pk=service.pk), alice)
    eventually(restarted, timeout=60, message="the worker was not restarted with the service")

    # A stop removes the web and the worker.
    controls.stop(Service.objects.get(pk=service.pk), alice)
    eventually(lambda: containers_of(deployment) == [], timeout=60,
               message=lambda: f"left: {[c.name for c in containers_of(deployment)]}")  # fmt: skip
    assert processes(alices, service) == {}

    # Started again from its image: the worker comes back with it (the process types are copied).
    started = wait_for(controls.start(Service.objects.get(pk=service.pk), alice))
    assert started.state == State.RUNNING, log_text(started)
    assert [c.labels["org.m3o.process"] for c in containers_of(started)] == ["web", "worker"]
    assert processes(alices, service)["worker"]["command"] == "python worker.py"


OWN_DOCKERFILE = (
    "FROM m3o-base/python:bookworm\nWORKDIR /app\nCOPY . .\nUSER app\n# no command of its own\nCMD []\n"
)


def test_a_dockerfile_without_cmd_runs_the_procfile_and_an_image_with_neither_is_the_users_error(
    worker, alice, make_repo
):
    repo = make_repo("process-types")
    repo.commit("Its own Dockerfile, without a command", {"Dockerfile": OWN_DOCKERFILE})
    deployment = wait_for(actions.deploy_repository(alice, name="own", repository_url=repo.url))
    assert deployment.state == State.RUNNING, f"{deployment.failure_reason}\n{log_text(deployment)}"
    assert "starting it with: python main.py (the Procfile's web: line)" in log_text(deployment)
    assert requests.get(deployment.url, timeout=5).text == "hello from process-types"
    assert [c.labels["org.m3o.process"] for c in containers_of(deployment)] == ["web", "worker"]

    # Junk as a process type's name: refused before anything is built, saying what a name may be.
    repo.commit("A hostile Procfile", {"Procfile": "web: python main.py\n$(reboot)/../x: python worker.py\n"})
    junk = wait_for(actions.deploy_repository(alice, name="own", repository_url=repo.url))
    assert junk.state == State.FAILED
    assert "Procfile line 2: '$(reboot)/../x' is not a process type name" in junk.failure_reason
    assert containers_of(junk) == []
    assert not junk.image

    # Neither a CMD nor a web line: the user's error, which says what to add.
    repo.git("rm", "-q", "Procfile")
    repo.commit("No Procfile")
    neither = wait_for(actions.deploy_repository(alice, name="own", repository_url=repo.url))
    assert neither.state == State.FAILED, log_text(neither)
    assert neither.failure_reason.startswith(
        "The image has no command to start the web process: its Dockerfile has no CMD or ENTRYPOINT."
    )
    assert "internal error" not in neither.failure_reason
    assert containers_of(neither) == []
    live = Service.objects.get(pk=deployment.service_id).live_deployment
    assert live.pk == deployment.pk
    assert live.state == State.RUNNING
