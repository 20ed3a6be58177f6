"""Replicas and rolling updates (issue 15, point 2), with the real engine, worker, proxy and `m3o`.

One service carries the engine checks, in order (builds are the slow part): scaled to three
web replicas, the proxy spreads requests over three hostnames; a rolling redeploy, a scale
from 3 to 1 and back to 3, all under a client that counts its answers, drop none; a new
version whose third replica fails its health check rolls back, the old replicas serving on;
a replica that starts failing its checks is taken out and restarted while the others serve;
`m3o restart` restarts the replicas one at a time, dropping nothing either.
The hostile scale requests need no engine: they are refused with a reason, and change nothing.
"""

import docker
import pytest
import requests
from django.urls import reverse

import billing.seed
from api import tokens
from billing.models import Plan
from deployments import actions, controls, health_monitor, runtime_logs, variables
from deployments.models import Deployment, HealthEvent, Instance, Process, Service
from environments.models import Environment
from ingress.names import service_url
from tests.conftest import log_text, wait_for
from tests.test_api import api_client
from tests.test_cli import M3O
from tests.test_ingress import Client
from tests.waiting import eventually

State = Deployment.State


def version(repo, name: str, only_as: str = "") -> None:
    text = (repo.path / "server.py").read_text()
    text = text.replace('VERSION = "v1"', f'VERSION = "{name}"')
    text = text.replace('ONLY_AS = ""', f'ONLY_AS = "{only_as}"')
    repo.commit(f"Version {name}", {"server.py": text})


def hostnames(url: str, answers: int = 30) -> set[str]:
    session = requests.Session()
    return {session.get(url, timeout=5).text for _ in range(answers)}


def taken_out(deployment: Deployment) -> HealthEvent | None:
    health_monitor.monitor()  # beat's pass, run by the test to see each step
    return HealthEvent.objects.filter(deployment=deployment, kind=HealthEvent.Kind.TAKEN_OUT).first()


def back(deployment: Deployment) -> bool:
    health_monitor.monitor()
    return HealthEvent.objects.filter(deployment=deployment, kind=HealthEvent.Kind.BACK).exists()


def started_at(deployment: Deployment) -> list[str]:
    """When each web replica's process started, as the engine says."""
    engine = docker.from_env()
    rows = Instance.objects.filter(process__deployment=deployment, process__name="web").order_by("index")
    return [engine.containers.get(row.container_id).attrs["State"]["StartedAt"] for row in rows]


def three(found: set[str]) -> set[str] | None:
    return found if len(found) == 3 else None


def web_running(service: Service) -> int:
    live = Service.objects.get(pk=service.pk).live_deployment
    return Instance.objects.filter(
        process__deployment=live, process__name="web", routed=True, state=Instance.State.RUNNING
    ).count()


def scaled_to(api, service: Service, count: int) -> None:
    answer = api.post(f"/api/services/{service.pk}/scale/", {"web": count}, format="json")
    assert answer.status_code == 202, answer.content
    draining = Instance.objects.filter(process__deployment__service=service, state=Instance.State.DRAINING)
    eventually(
        lambda: web_running(service) == count and not draining.exists(),
        timeout=60,
        interval=0.2,
        message=lambda: f"web never ran {count}: {list(Instance.objects.values_list('index', 'state'))}",
    )


@pytest.mark.docker
def test_replicas_balance_roll_scale_and_roll_back_without_dropping_a_request(
    worker, alice, make_repo, localhost_names, live_server, tmp_path
):
    repo = make_repo("replicas")
    first = wait_for(actions.deploy_repository(alice, name="many", repository_url=repo.url))
    assert first.state == State.RUNNING, log_text(first)
    service, url = first.service, service_url(first.service)
    service.health_check_path = "/health"
    service.save()

    # m3o ps:scale web=3: three containers, each its own hostname, all answering through the proxy.
    cli = M3O(tmp_path / "config", live_server.url)
    cli.ok("login", "--url", live_server.url, "--token", tokens.create_token(alice, "cli")[1])
    assert "Scaling many to web=3" in cli.ok("ps:scale", "many", "web=3")
    eventually(lambda: web_running(service) == 3, timeout=60, interval=0.2)
    names = eventually(lambda: three(hostnames(url)), timeout=20)
    assert {name.split()[0] for name in names} == {"v1"}
    assert "3/3" in cli.ok("ps", "many")
    for junk, said in [
        ("web=lots", "the replicas must be a whole number"),
        ("web", "is not TYPE=REPLICAS"),
        ("web=21", "This installation allows at most 20 replicas per process type"),
    ]:
        refused = cli("ps:scale", "many", junk)
        assert refused.returncode == 1
        assert said in refused.stderr, refused.stderr

    client = Client(url)
    client.start()
    try:
        client.wait_for_answer(next(iter(names)))
        # A rolling redeploy of three replicas: a new one in, an old one out, three times.
        version(repo, "v2")
        second = wait_for(actions.request_deploy(Service.objects.get(pk=service.pk), alice))
        assert second.state == State.RUNNING, log_text(second)
        log = log_text(second)
        assert "==> Rolling update: 3 new web replicas replace the 3 of deployment" in log
        assert "Web replica 3 of 3 in the ingress" in log
        assert Process.objects.get(deployment=second, name="web").replicas == 3  # inherited
        client.wait_for_more_answers(30)
        assert {answer.split()[0] for answer in client.answers[-20:]} == {"v2"}
        assert len(hostnames(url)) == 3

        # Down to one and back to three, under the same client.
        api = api_client(alice)
        scaled_to(api, service, 1)
        client.wait_for_more_answers(30)
        assert len(hostnames(url, 10)) == 1
        scaled_to(api, service, 3)
        client.wait_for_more_answers(30)
        assert len(hostnames(url)) == 3

        # A version whose third replica never passes its health check (it exits at start): two
        # old replicas are out by then (one drained and stopped already, most likely), and are
        # brought back: rolled back, the old three serve on.
        version(repo, "v3", only_as="web.1,web.2")
        third = wait_for(actions.request_deploy(Service.objects.get(pk=service.pk), alice))
        assert third.state == State.FAILED, log_text(third)
        assert "Web replica 3 of deployment" in third.failure_reason
        assert "Rolled back: deployment #" in third.failure_reason
        assert "web.3 refuses to start: only web.1,web.2 does" in log_text(third)  # its last words
        assert Service.objects.get(pk=service.pk).live_deployment_id == second.pk
        second.refresh_from_db()  # its own instance (replica 1) answers, brought back or never out
        assert requests.get(second.url, timeout=5).text.startswith("v2 ")
        assert len(hostnames(url)) == 3
        client.wait_for_more_answers(30)

        # Replica 2 starts failing its checks: taken out and restarted, the other two serve on.
        Service.objects.filter(pk=service.pk).update(health_check_interval=1, health_check_threshold=1)
        sick = Instance.objects.get(process__deployment=second, process__name="web", index=1)
        requests.get(f"http://127.0.0.1:{sick.host_port}/break", timeout=5)
        event = eventually(lambda: taken_out(second), timeout=20, interval=0.3)
        assert event.detail.startswith("web replica 2 failed 1 health check in a row (HTTP 500")
        assert sick.container_id[:12] not in {name.split()[1] for name in hostnames(url)}
        eventually(lambda: back(second), timeout=40, interval=0.3)
        eventually(lambda: three(hostnames(url)), timeout=20)
        client.wait_for_more_answers(30)

        # m3o restart: each replica in turn out, drained, restarted, back in.
        started = started_at(second)
        controls.restart(Service.objects.get(pk=service.pk), alice)
        eventually(
            lambda: all(a != b for a, b in zip(started, started_at(second), strict=True)),
            timeout=40,
            interval=0.3,
        )
        eventually(lambda: three(hostnames(url)), timeout=20)
        client.wait_for_more_answers(30)
    finally:
        client.stopped.set()
        client.join(timeout=20)
    assert client.failures == []
    assert len(client.answers) > 100
    found = hostnames(url)
    assert len(found) == 3
    assert {name.split()[0] for name in found} == {"v2"}


@pytest.mark.django_db
def test_scale_requests_that_make_no_sense_are_refused_and_change_nothing(alice, bob, client):
    env = Environment.objects.create(owner=alice, name="production")
    service = Service.objects.create(environment=env, name="api", repository_url="https://example.com/a.git")
    live = Deployment.objects.create(service=service, branch="main", state=State.RUNNING, image="x")
    Process.objects.create(deployment=live, name="web")
    Process.objects.create(deployment=live, name="worker", command="python worker.py")
    service.live_deployment = live
    service.save()
    # Plans hold once one is sold; the free plan allows 2 replicas per process type.
    billing.seed.ensure(Plan)  # a test with a worker before this one empties every table
    Plan.objects.filter(slug="pro").update(stripe_price_id="price_pro")
    before = list(Process.objects.values_list("name", "replicas"))
    api = api_client(alice)
    refused = [
        ({"db": 2}, "'db' is not a process type of api (it has web, worker)"),
        ({"web": -1}, "The replicas of web must be at least 1"),
        ({"web": 0}, "The replicas of web must be at least 1"),
        ({"worker": -3}, "The replicas of worker must be at least 0"),
        ({"web": 10**30}, "The Open Source plan allows at most 2 replicas per process type"),
        ({"web": 3}, "The Open Source plan allows at most 2 replicas per process type; web asked for 3"),
        ({"web": "3"}, "must be a whole number"),
        ({"web": 2.5}, "must be a whole number"),
        ({"web": True}, "must be a whole number"),
        ({}, "Say how many replicas of which process type"),
        (["web", 3], "Say how many replicas of which process type"),
    ]
    for body, message in refused:
        answer = api.post(f"/api/services/{service.pk}/scale/", body, format="json")
        assert answer.status_code == 400, (body, answer.content)
        assert message in answer.json()["error"], (body, answer.json())
    answer = api_client(bob).post(f"/api/services/{service.pk}/scale/", {"web": 2}, format="json")
    assert answer.status_code == 404
    client.force_login(alice)
    page = client.post(reverse("service-scale", args=[service.pk]), {"process": "web", "replicas": "9"})
    assert page.status_code == 302
    assert list(Process.objects.values_list("name", "replicas")) == before
    # Within the plan: taken, and said in the audit log.
    answer = api.post(f"/api/services/{service.pk}/scale/", {"web": 2, "worker": 0}, format="json")
    assert answer.status_code == 202, answer.content
    assert dict(Process.objects.values_list("name", "replicas")) == {"web": 2, "worker": 0}
    assert env.events.filter(action="scale", detail="api: web=2 worker=0").exists()
    # What tells a replica which one it is, the platform's alone.
    with pytest.raises(variables.InvalidVariable, match="M3O_PROCESS is set by the platform"):
        variables.set_variable(service, "M3O_PROCESS", "web.9", by=alice)


def test_replicas_lines_printed_at_the_same_time_are_all_kept_once():
    """The web replicas share the web log; a line of one older than the newest of another is kept."""
    deployment_id = 987652
    runtime_logs.forget(deployment_id)
    stamp = "2026-01-01T00:00:0{}.000000000Z".format
    try:
        assert runtime_logs.append_newer(deployment_id, stamp(2), "web.1 second", replica=0)
        assert runtime_logs.append_newer(deployment_id, stamp(1), "web.2 first", replica=1)
        assert runtime_logs.append_newer(deployment_id, stamp(3), "web.2 third", replica=1)
        # A follower of each resuming (a new lease) adds nothing twice.
        assert not runtime_logs.append_newer(deployment_id, stamp(2), "web.1 second", replica=0)
        assert not runtime_logs.append_newer(deployment_id, stamp(1), "web.2 first", replica=1)
        assert runtime_logs.last_stamp(deployment_id, replica=0) < runtime_logs.last_stamp(
            deployment_id, replica=1
        )
        stored = [line.text for line in runtime_logs.recent(deployment_id)]
        assert stored == ["web.1 second", "web.2 first", "web.2 third"]
    finally:
        runtime_logs.forget(deployment_id)
    assert runtime_logs.recent(deployment_id) == []
    assert runtime_logs.last_stamp(deployment_id, replica=1) == 0
