"""A real proxy for the whole run, of its own: free ports, its own admin API and files.

It starts before any worker, so every worker (and this process) routes through
it, and never through the proxy of `make run` on the default ports.
"""

import os
import socket
from contextlib import suppress

import pytest
from django.conf import settings

from ingress import proxy
from tests.waiting import eventually


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def ingress_proxy(tmp_path_factory):
    state = tmp_path_factory.mktemp("ingress")
    values = {
        "INGRESS_ADMIN_ADDRESS": f"127.0.0.1:{free_port()}",
        "INGRESS_CONTROL_ADDRESS": f"127.0.0.1:{free_port()}",
        "INGRESS_CHALLENGE_PORT": str(free_port()),
        "INGRESS_HTTP_PORT": str(free_port()),
        "INGRESS_HTTPS_PORT": str(free_port()),
        "INGRESS_STATE_DIR": str(state),
        "INGRESS_DRAIN_SECONDS": "1",
    }
    saved = {name: getattr(settings, name) for name in values}
    os.environ.update(values)
    for name, value in values.items():
        setattr(settings, name, type(saved[name])(value))
    process = proxy.launch(state, values["INGRESS_ADMIN_ADDRESS"], state / "proxy.log")
    with suppress(AssertionError):  # said below, with the proxy's own log
        eventually(lambda: proxy.ping() or process.poll() is not None, timeout=20, interval=0.05)
    if not proxy.ping():
        process.kill()
        pytest.fail(f"the proxy did not start:\n{(state / 'proxy.log').read_text()}")
    yield settings
    process.terminate()
    process.wait(timeout=20)
    for name, value in saved.items():
        setattr(settings, name, value)


@pytest.fixture
def localhost_names(monkeypatch):
    """Resolve every *.localhost name to 127.0.0.1 in this process, as curl and browsers do."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
