"""The proxy itself, against a small local server: live when apply() returns, refusals, access logs."""

import http.client
import json
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace

import pytest
import requests
from django.conf import settings

from deployments.errors import PlatformError
from ingress import access_log, proxy
from tests.fakes.server import LocalServer
from tests.proxy import free_port
from tests.waiting import eventually


class Echo(BaseHTTPRequestHandler):
    """Answers with what it was sent: the request line, the headers it got and the body's size."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.answer(0)

    def do_POST(self) -> None:
        self.answer(len(self.rfile.read(int(self.headers["Content-Length"]))))

    def answer(self, received: int) -> None:
        body = json.dumps({"path": self.path, "headers": dict(self.headers), "received": received}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def echo():
    server = LocalServer(Echo, "echo").start()
    yield server.address
    server.stop()


def url(host: str, path: str = "/") -> str:
    return f"http://{host}:{settings.INGRESS_HTTP_PORT}{path}"


def test_a_route_answers_as_soon_as_apply_returns(echo, localhost_names):
    for n in range(15):
        host = f"echo{n}-production.localhost"
        proxy.apply([proxy.Site(key=f"s{900000 + n}", hosts=[host], upstreams=[echo])])
        # A new connection each time: no worker of the older configuration may take it.
        answer = requests.get(url(host, "/now"), timeout=5, headers={"Connection": "close"})
        assert answer.status_code == 200, (n, answer.text[:200])
        assert answer.json()["path"] == "/now"


def test_a_refused_configuration_leaves_the_old_routes_serving(echo, localhost_names):
    good = proxy.Site(key="s900100", hosts=["good-production.localhost"], upstreams=[echo])
    proxy.apply([good])
    bad = proxy.Site(key="s900101", hosts=["bad-production.localhost"], upstreams=["127.0.0.1:99999"])
    with pytest.raises(PlatformError, match=r"The proxy refused its new configuration: .*invalid port"):
        proxy.apply([good, bad])
    assert requests.get(url("good-production.localhost"), timeout=5).status_code == 200
    assert requests.get(url("bad-production.localhost"), timeout=5).status_code == 404


def test_the_service_gets_forwarded_headers_and_streamed_bodies(echo, localhost_names):
    proxy.apply([proxy.Site(key="s900200", hosts=["echo-production.localhost"], upstreams=[echo])])
    answer = requests.post(
        url("echo-production.localhost", "/upload"),
        data=b"x" * (5 * 1024 * 1024),
        headers={"X-Forwarded-For": "203.0.113.9"},
        timeout=10,
    )
    assert answer.status_code == 200
    seen = answer.json()
    assert seen["received"] == 5 * 1024 * 1024
    headers = {name.lower(): value for name, value in seen["headers"].items()}
    assert headers["x-forwarded-for"] == "127.0.0.1"  # what the client claims is not passed on
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == "echo-production.localhost"
    assert headers["host"] == f"echo-production.localhost:{settings.INGRESS_HTTP_PORT}"


def test_the_access_log_holds_requests_but_no_headers(echo, localhost_names):
    site = proxy.Site(key="s900300", hosts=["logged-production.localhost"], upstreams=[echo])
    proxy.apply([site])
    requests.get(
        url("logged-production.localhost", '/a?b="c"'),
        headers={"Cookie": "session=secret-cookie", "Authorization": "Bearer secret-token"},
        timeout=5,
    )
    requests.post(url("logged-production.localhost", "/b"), data=b"12345", timeout=5)

    # nginx writes the line just after the answer goes out.
    def both_logged() -> list | None:
        found = access_log(SimpleNamespace(pk=900300), 10)
        return found if len(found) >= 2 else None

    entries = eventually(both_logged, timeout=10, interval=0.05)
    assert [(e.method, e.host, e.path, e.status) for e in entries[-2:]] == [
        ("GET", "logged-production.localhost", "/a?b=%22c%22", 200),
        ("POST", "logged-production.localhost", "/b", 200),
    ]
    assert all(0 <= e.duration_ms < 5000 and e.size > 0 for e in entries)
    raw = proxy.access_log_paths("s900300")[0].read_text()
    assert "secret" not in raw


def test_unknown_names_and_stopped_services_get_the_platform_pages(localhost_names):
    proxy.apply([
        proxy.Site(key="s900400", hosts=["stopped-production.localhost"]),
        proxy.Site(key="s900401", hosts=["crashed-production.localhost"], down=True),
    ])  # fmt: skip
    for host, status, text in (
        ("stopped-production.localhost", 503, "This service is not running"),
        ("crashed-production.localhost", 502, "This service is not answering"),
        ("nothing-production.localhost", 404, "No service here"),
    ):
        answer = requests.get(url(host), timeout=5)
        assert (answer.status_code, answer.headers["Content-Type"]) == (status, "text/html; charset=utf-8")
        assert text in answer.text


def test_loading_the_same_routes_again_keeps_the_clients_connections(echo):
    """The periodic sync reloads nothing when nothing changed; a change does close idle connections."""
    site = proxy.Site(key="s900300", hosts=["keep-production.localhost"], upstreams=[echo])
    proxy.apply([site])
    connection = http.client.HTTPConnection("127.0.0.1", settings.INGRESS_HTTP_PORT, timeout=5)

    def get() -> int:
        connection.request("GET", "/", headers={"Host": "keep-production.localhost"})
        response = connection.getresponse()
        response.read()
        return response.status

    try:
        assert get() == 200
        proxy.apply([site])
        assert get() == 200  # on the same connection: http.client does not reconnect by itself
        proxy.apply([site, proxy.Site(key="s900301", hosts=["more-production.localhost"], upstreams=[echo])])
        with pytest.raises(ConnectionError):
            get()
    finally:
        connection.close()


def test_acme_http_challenges_on_the_plain_http_port_reach_the_https_proxy(echo, settings):
    """A CA checks a domain by asking http://DOMAIN/.well-known/acme-challenge/TOKEN on port 80,
    which is nginx's: it passes that path, and only that, to Caddy, which answers with the key."""
    settings.INGRESS_TLS_ISSUER = "acme"
    ca = f"127.0.0.1:{free_port()}"  # nothing listens: Caddy's own order fails on this machine
    settings.INGRESS_ACME_CA = f"http://{ca}/directory"
    site = proxy.Site(
        key="s900500", hosts=["acme-production.localhost"], domains=["shop.example.com"], upstreams=[echo]
    )
    proxy.apply([site])
    token = "k6Qb2pTCIuWQDpV0XKc5cMZ9a4bNvG1rH7eLsYw3xJo"

    def ask(path: str) -> requests.Response:
        return requests.get(
            f"http://127.0.0.1:{settings.INGRESS_HTTP_PORT}{path}",
            headers={"Host": "shop.example.com"}, timeout=5, allow_redirects=False,
        )  # fmt: skip

    try:
        challenge = f"/.well-known/acme-challenge/{token}"
        assert ask(challenge).status_code == 404  # no challenge under way: Caddy's answer, not a redirect
        # A challenge under way, as another Caddy sharing this storage leaves it (certmagic's
        # distributed solving); the process that started the order answers the same way.
        tokens = (
            proxy.state_dir() / "storage" / "acme" / f"{ca.replace(':', '-')}-directory" / "challenge_tokens"
        )
        tokens.mkdir(parents=True, exist_ok=True)
        key = f"{token}.thumbprint-of-the-account-key"
        (tokens / "shop.example.com.json").write_text(
            json.dumps({
                "type": "http-01", "token": token, "keyAuthorization": key,
                "identifier": {"type": "dns", "value": "shop.example.com"},
            })
        )  # fmt: skip
        answer = ask(challenge)
        assert (answer.status_code, answer.text) == (200, key)
        redirect = ask("/.well-known/other")
        assert redirect.status_code == 308
        assert (
            redirect.headers["Location"]
            == f"https://shop.example.com:{settings.INGRESS_HTTPS_PORT}/.well-known/other"
        )
    finally:
        proxy.apply([])  # Caddy stops trying to order a certificate for the domain
