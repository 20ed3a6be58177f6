"""Health checks a service chooses, used during the switch and afterwards; graceful stop.

One real deployment (engine, worker, proxy) of an app with switches: its health
path starts failing, the monitor takes it out of the ingress (the proxy answers 503
itself), a worker restarts it, it comes back, and the service's history says so;
then it ignores SIGTERM and a stop kills it at the end of its own grace period.
"""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.urls import reverse

from api import tokens
from deployments import actions, controls, health, health_monitor, runtime_logs
from deployments.models import Deployment, HealthEvent, Service
from deployments.runtime import InstanceState
from environments.models import Environment, Event
from ingress.names import service_url
from tests.conftest import log_text, wait_for
from tests.test_api import api_client
from tests.test_cli import M3O
from tests.waiting import eventually

pytest_plugins = ["tests.queues"]

GRACE = 3


def service_of(user, name="web") -> Service:
    env, _ = Environment.objects.get_or_create(owner=user, name="production")
    return Service.objects.create(
        environment=env, name=name, repository_url=f"https://example.com/{name}.git"
    )


HOSTILE = [
    ("health_check_interval", 0, "check interval must be between 1 and 300 seconds"),
    ("health_check_interval", 10**12, "check interval must be between 1 and 300 seconds"),
    ("health_check_timeout", 61, "check timeout must be between 1 and 60 seconds"),
    ("health_check_start_period", -1, "start period must be between 0 and 600 seconds"),
    ("health_check_threshold", 0, "failure threshold must be between 1 and 10 checks"),
    ("health_check_threshold", 11, "failure threshold must be between 1 and 10 checks"),
    ("stop_grace_period", 301, "grace period must be between 0 and 300 seconds"),
    ("stop_grace_period", -5, "grace period must be between 0 and 300 seconds"),
    ("health_check_path", "health", "must start with /"),
    ("health_check_path", "http://169.254.169.254/latest/meta-data/", "not a full URL"),
    ("health_check_path", "//evil.example/health", "not a full URL"),
    ("health_check_path", "/static/../../etc/passwd", "may not hold .. segments"),
    ("health_check_path", "/health\r\nHost: evil.example", "line breaks or other control characters"),
    ("health_check_status", "600", "expected status is HTTP codes or ranges"),
    ("health_check_status", "399-200", "expected status is HTTP codes or ranges"),
    ("health_check_status", "ok", "expected status is HTTP codes or ranges"),
    ("health_check_status", ",".join(["200"] * 11), "expected status is HTTP codes or ranges"),
]


@pytest.mark.django_db
def test_hostile_health_and_grace_settings_are_refused_with_a_reason(alice):
    web = service_of(alice)
    before = Service.objects.filter(pk=web.pk).values().get()
    api = api_client(alice)
    for field, value, message in HOSTILE:
        answer = api.patch(f"/api/services/{web.pk}/", {field: value}, format="json")
        assert answer.status_code == 400, (field, value, answer.content)
        assert message in answer.json()["error"], (field, value)
        assert Service.objects.filter(pk=web.pk).values().get() == before


@pytest.mark.django_db
def test_health_settings_change_from_the_page_and_the_api_and_grace_goes_back_to_the_default(alice, client):
    web = service_of(alice)
    api = api_client(alice)
    changes = {
        "health_check_status": "2XX, 301",
        "health_check_interval": 15,
        "health_check_timeout": 2,
        "health_check_start_period": 40,
        "health_check_threshold": 4,
        "stop_grace_period": 60,
    }
    answer = api.patch(f"/api/services/{web.pk}/", changes, format="json")
    assert answer.status_code == 200, answer.content
    assert {key: answer.json()[key] for key in changes} == changes | {"health_check_status": "2xx,301"}
    event = Event.objects.filter(action="settings").first()
    assert "expected status, check interval" in event.detail
    answer = api.patch(f"/api/services/{web.pk}/", {"stop_grace_period": None}, format="json")
    assert answer.json()["stop_grace_period"] is None  # the platform's STOP_TIMEOUT again
    client.force_login(alice)
    page = client.get(reverse("service-settings", args=[web.pk])).content.decode()
    assert 'name="health_check_status" value="2xx,301"' in page
    form = {f: getattr(web, f) for f in ("name", "repository_url", "branch", "subdirectory", "port")}
    form |= {"health_check_path": "/up", "health_check_threshold": "0"}
    page = client.post(reverse("service-settings", args=[web.pk]), form)
    assert page.status_code == 400
    web.refresh_from_db()
    assert (web.health_check_path, web.health_check_threshold) == ("/", 4)


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_the_switch_waits_for_the_status_the_service_expects():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/health"
    running = lambda: InstanceState(running=True)  # noqa: E731
    try:
        assert health.wait(url, 8080, 5, running, spec="200") >= 0
        assert health.wait(url, 8080, 5, running, spec="2xx,301") >= 0
        with pytest.raises(health.HealthTimedOut, match=r"answered HTTP 200 .* expects HTTP 204"):
            health.wait(url, 8080, 0.5, running, spec="204")
    finally:
        server.shutdown()
        server.server_close()


def _lines(deployment) -> list[str]:
    return [line.text for line in runtime_logs.recent(deployment.pk, tail=500)]


@pytest.mark.docker
def test_a_failing_instance_is_taken_out_restarted_and_back_and_a_stop_honours_its_grace_period(
    worker, deploy_queue, alice, make_repo, settings, client, localhost_names, live_server, tmp_path
):
    queued = actions.deploy_repository(alice, name="switchy", repository_url=make_repo("health-switch").url)
    service = queued.service
    # The settings through `m3o settings`, before the deployment runs.
    _, raw = tokens.create_token(alice, "cli")
    cli = M3O(tmp_path / "config", live_server.url)
    env = {"M3O_URL": live_server.url, "M3O_TOKEN": raw}
    out = cli.ok(
        "settings", "switchy", "--health-check", "/health", "--expect-status", "200", "--check-interval", "1",
        "--check-timeout", "1", "--failure-threshold", "2", "--grace-period", str(GRACE), **env,
    )  # fmt: skip
    assert "Expected status:     200" in out
    refused = cli("settings", "switchy", "--failure-threshold", "50", **env)
    assert refused.returncode == 1
    assert "failure threshold must be between 1 and 10 checks" in refused.stderr
    settings.DEPLOY_QUEUE = worker.queue
    for pk in deploy_queue.deployments():
        actions.enqueue(pk)
    deployment = wait_for(queued)
    assert deployment.state == Deployment.State.RUNNING, log_text(deployment)
    assert "Healthy after" in log_text(deployment)
    url = service_url(service)
    first = requests.get(f"{url}health", timeout=5)
    assert first.status_code == 200
    requests.get(f"{url}break", timeout=5)
    assert requests.get(f"{url}health", timeout=5).status_code == 500

    # Beat sends a pass every HEALTH_MONITOR_TICK; here the test runs them, so it sees each step.
    def taken_out():
        health_monitor.monitor()
        return HealthEvent.objects.filter(deployment=deployment, kind=HealthEvent.Kind.TAKEN_OUT).first()

    event = eventually(taken_out, timeout=20, interval=0.3)
    assert "failed 2 health checks in a row (HTTP 500, expected 200)" in event.detail
    answer = requests.get(f"{url}health", timeout=5)
    assert answer.status_code == 503  # the proxy's own answer, not the broken app's 500
    assert "failing its health checks" in answer.text

    # The worker restarts it (its shutdown output reaches its logs), and the next pass puts it back.
    eventually(lambda: "got SIGTERM, shutting down cleanly" in _lines(deployment), timeout=20)

    def back():
        health_monitor.monitor()
        return HealthEvent.objects.filter(deployment=deployment, kind=HealthEvent.Kind.BACK).exists()

    eventually(back, timeout=30, interval=0.3)
    again = requests.get(f"{url}health", timeout=5)
    assert again.status_code == 200
    assert again.text != first.text  # another process: it was restarted
    kinds = [
        e["kind"]
        for e in api_client(alice).get(f"/api/services/{service.pk}/health-events/").json()["results"]
    ]
    assert kinds == ["back", "restarted", "taken_out"]
    assert "taken out of the ingress" in cli.ok("health", "switchy", **env)
    assert Event.objects.filter(environment=service.environment, action="health").count() == 2
    client.force_login(alice)
    page = client.get(reverse("service", args=[service.pk])).content.decode()
    assert "taken out of the ingress" in page

    # An app that ignores SIGTERM is killed at the end of the service's grace period.
    requests.get(f"{url}ignore-term", timeout=5)
    started = time.monotonic()
    controls.stop(Service.objects.get(pk=service.pk), alice)

    def retired():
        deployment.refresh_from_db()
        return deployment.retired_at is not None

    eventually(retired, timeout=40, interval=0.2)
    elapsed = time.monotonic() - started
    assert GRACE <= elapsed < 25, elapsed  # its own 3 s, not the platform's 30
    assert "got SIGTERM, ignoring it" in _lines(deployment)
