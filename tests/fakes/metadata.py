"""A stand-in for a cloud provider's metadata service at 169.254.169.254.

On a cloud machine that address is reached through the host's own routing, so
a container gets there only if the host forwards its packets. The fake sits in
the same place: in a network namespace of its own, joined to the host by a veth
pair, with a host route to 169.254.169.254 through it. The host itself reaches
it (so a test can show it answers); a container reaches it exactly when the
host's firewall lets forwarded traffic through.

One host route means one fake per machine at a time: test runs side by side
take turns through a lock file, and each removes what a crashed run left.
"""

import fcntl
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
import requests

from tests.waiting import eventually

ADDRESS = "169.254.169.254"
# The veth pair's own /30, also link-local: host side and namespace side.
HOST_SIDE, FAKE_SIDE = "169.254.123.1", "169.254.123.2"
PREFIX = "m3o-meta-"
LOCK = "/tmp/m3o-fake-metadata.lock"
ANSWER = "fake-instance-credentials"
SERVER = f"""
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"{ANSWER}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        print("request from", self.client_address[0], flush=True)

HTTPServer(("{ADDRESS}", 80), Handler).serve_forever()
"""


@dataclass(frozen=True)
class Metadata:
    address: str
    port: int
    answer: str

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _remove_namespace(name: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
    for pid in pids:
        subprocess.run(["kill", "-9", pid], capture_output=True)
    # Its end of the veth pair goes with it, and the host's end and route with that.
    subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def _leftovers() -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
    return [line.split()[0] for line in listed if line.startswith(PREFIX)]


@pytest.fixture
def fake_metadata():
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in _leftovers():  # under the lock, nobody else's fake is alive
            _remove_namespace(name)
        name, host_end, fake_end = f"{PREFIX}{os.getpid()}", f"m3om{os.getpid()}", f"m3on{os.getpid()}"
        server = None
        try:
            ip("netns", "add", name)
            ip("link", "add", host_end, "type", "veth", "peer", "name", fake_end)
            ip("link", "set", fake_end, "netns", name)
            ip("addr", "add", f"{HOST_SIDE}/30", "dev", host_end)
            ip("link", "set", host_end, "up")
            ip("route", "replace", f"{ADDRESS}/32", "dev", host_end)
            inside = ("netns", "exec", name, "ip")
            ip(*inside, "addr", "add", f"{FAKE_SIDE}/30", "dev", fake_end)
            ip(*inside, "addr", "add", f"{ADDRESS}/32", "dev", fake_end)
            ip(*inside, "link", "set", fake_end, "up")
            ip(*inside, "route", "add", "default", "via", HOST_SIDE)
            server = subprocess.Popen(
                ["ip", "netns", "exec", name, sys.executable, "-c", SERVER],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            metadata = Metadata(ADDRESS, 80, ANSWER)

            def answers() -> bool:
                try:
                    return requests.get(metadata.url, timeout=2).text == ANSWER
                except requests.RequestException:
                    return False

            eventually(answers, timeout=20, message="the fake metadata service never answered the host")
            yield metadata
        finally:
            if server is not None:
                server.kill()
                server.wait()
            _remove_namespace(name)
