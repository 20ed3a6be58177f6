"""Every service answers at a stable name through a real proxy, across redeploys and rollbacks."""

import threading
import time

import docker
import pytest
import requests
from django.conf import settings
from urllib3.exceptions import ProtocolError

from deployments import actions, controls
from deployments.models import Service
from ingress import access_log, routes
from ingress.addresses import suffix
from ingress.names import InvalidName, check_label, service_url
from tests.conftest import log_text, wait_for
from tests.waiting import eventually

V1 = "hello from python-dockerfile v1"
V2 = "hello from python-dockerfile v2"


def deploy(user, repo, name="web", **kwargs):
    deployment = wait_for(actions.deploy_repository(user, name=name, repository_url=repo.url, **kwargs))
    assert deployment.state == "running", log_text(deployment)
    return deployment


def fresh(service):
    return Service.objects.get(pk=service.pk)


def second_version(repo):
    server = (repo.path / "server.py").read_text().replace("v1", "v2")
    repo.commit("Version 2", {"server.py": server})


class Client(threading.Thread):
    """Requests the URL again and again on one keep-alive connection, as a browser would.

    Like a browser (and curl, and Go's client, per RFC 9112 9.3.1), it sends a
    GET once more when a connection it had already used is closed under it: a
    proxy that swaps its configuration closes its idle connections, and one
    may be closed just as a request goes out on it. Only that is retried: the
    proxy answers a failing or missing instance with an HTTP status, which
    counts as a failure, and so does any second error.
    """

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.answers: list[str] = []
        self.failures: list[str] = []
        self.retried: list[str] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        deadline = time.monotonic() + 600  # bounded, whatever happens to the test
        while not self.stopped.is_set() and time.monotonic() < deadline:
            try:
                response = session.get(self.url, timeout=10)
            except requests.ConnectionError as exc:
                # Aborted or reset: an open connection closed; a refused one is a failure.
                if not self.answers or not isinstance(exc.args[0], ProtocolError):
                    self.failures.append(repr(exc))
                    continue
                self.retried.append(repr(exc))
                try:
                    response = session.get(self.url, timeout=10)
                except requests.RequestException as again:
                    self.failures.append(repr(again))
                    continue
            except requests.RequestException as exc:
                self.failures.append(repr(exc))
                continue
            if response.status_code != 200:
                self.failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
            else:
                self.answers.append(response.text)
            self.stopped.wait(0.002)  # pace the requests, as a busy page would

    def wait_for_answer(self, text: str, timeout: float = 30) -> None:
        eventually(
            lambda: self.answers and self.answers[-1] == text,
            timeout=timeout,
            interval=0.05,
            message=lambda: f"the client never got {text!r}; last answers {self.answers[-3:]}",
        )

    def wait_for_more_answers(self, count: int, timeout: float = 30) -> None:
        """Keep the client going until `count` more answers arrived, to see what follows a swap."""
        target = len(self.answers) + count
        eventually(lambda: len(self.answers) >= target, timeout=timeout, interval=0.05)

    def transitions(self) -> list[str]:
        return [a for i, a in enumerate(self.answers) if i == 0 or a != self.answers[i - 1]]


@pytest.mark.docker
def test_redeploy_and_rollback_drop_no_request(worker, alice, make_repo, localhost_names):
    repo = make_repo("python-dockerfile")
    first = deploy(alice, repo)
    url = service_url(first.service)
    assert url == f"http://web-production.localhost:{settings.INGRESS_HTTP_PORT}/"
    client = Client(url)
    client.start()
    try:
        client.wait_for_answer(V1)
        second_version(repo)
        second = deploy(alice, repo)
        client.wait_for_answer(V2)
        rollback = wait_for(controls.rollback(fresh(first.service), first, alice))
        assert rollback.state == "running", log_text(rollback)
        client.wait_for_answer(V1)
        client.wait_for_more_answers(50)
    finally:
        client.stopped.set()
        client.join(timeout=20)
    assert client.failures == []
    assert len(client.retried) <= 4, client.retried  # at most about one per configuration swap
    assert client.transitions() == [V1, V2, V1]
    assert len(client.answers) > 100
    # The address never changed while the instances behind it did.
    assert len({first.host_port, second.host_port, rollback.host_port}) == 3


@pytest.mark.docker
def test_two_environments_and_two_tenants_get_their_own_addresses(
    worker, alice, bob, make_repo, localhost_names
):
    repo = make_repo("python-dockerfile")
    production = deploy(alice, repo)
    second_version(repo)
    staging = deploy(alice, repo, environment="staging")
    # Bob deploys his own `web` to his own `production` too: he gets his environment's suffix.
    bobs_repo = make_repo("python-dockerfile")
    server = (bobs_repo.path / "server.py").read_text().replace("v1", "of bob")
    bobs_repo.commit("Bob's", {"server.py": server})
    bobs = deploy(bob, bobs_repo)
    port = settings.INGRESS_HTTP_PORT
    assert service_url(production.service) == f"http://web-production.localhost:{port}/"
    assert service_url(staging.service) == f"http://web-staging.localhost:{port}/"
    bobs_url = f"http://web-production-{suffix(bobs.service.environment_id)}.localhost:{port}/"
    assert service_url(bobs.service) == bobs_url
    assert requests.get(service_url(production.service), timeout=5).text == V1
    assert requests.get(service_url(staging.service), timeout=5).text == V2
    assert requests.get(bobs_url, timeout=5).text == "hello from python-dockerfile of bob"


def test_a_name_that_is_no_dns_label_is_refused():
    for label in ("web-dev-", "ab--cd", "x" * 64):
        with pytest.raises(InvalidName, match="cannot be a web address"):
            check_label(label)
    assert check_label("web-production") == "web-production"


@pytest.mark.docker
def test_a_stopped_or_crashed_service_gets_the_platform_page(
    worker, alice, bob, make_repo, client, localhost_names
):
    deployment = deploy(alice, make_repo("python-dockerfile"))
    service = fresh(deployment.service)
    url = service_url(service)
    started = time.monotonic()
    assert requests.get(f"{url}hello?x=1", timeout=5).text == V1
    client_ms = (time.monotonic() - started) * 1000
    entries = access_log(service, 10)
    assert [(e.method, e.path, e.status) for e in entries][-1] == ("GET", "/hello?x=1", 200)
    # nginx counts whole milliseconds, so a quick answer is 0; it can never be
    # longer than the client waited (which would mean seconds read as milliseconds).
    assert 0 <= entries[-1].duration_ms <= client_ms + 1
    client.force_login(alice)
    page = client.get(f"/services/{service.pk}/domains/").content.decode()
    assert "/hello?x=1" in page
    assert url in page
    client.force_login(bob)
    assert client.get(f"/services/{service.pk}/domains/").status_code == 404

    # Crashed (its container gone without the platform knowing): the proxy's own page.
    docker.from_env().containers.get(deployment.instance_id).stop(timeout=1)
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 502
    assert "This service is not answering" in answer.text
    # The next sync finds no address for it, and the proxy still answers with its page.
    routes.sync()
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 502
    assert "This service is not answering" in answer.text
    # Stopped through the platform: the route says so plainly.
    controls.stop(service, alice)
    routes.sync()
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 503
    assert "This service is not running" in answer.text
    answer = requests.get(f"http://nothing-here.localhost:{settings.INGRESS_HTTP_PORT}/", timeout=5)
    assert answer.status_code == 404
    assert "No service here" in answer.text
