"""No way out to the host or the provider, tried from a tenant's own code.

The app's build step and its running instance try every address of this host
(the gateway of their own network among them) at a port where the test listens
on 0.0.0.0, and the provider's metadata address; the host itself reaches both,
so only the firewall (scripts/firewall.sh) stands between. Names still resolve
and the package registry still answers, and the host still reaches the instance.
"""

import json
import socket
import subprocess
import threading

import docker
import pytest
import requests

from deployments import actions
from deployments.models import Deployment
from deployments.runtime.docker import network_name
from tests.conftest import log_text, wait_for
from tests.waiting import eventually

pytestmark = pytest.mark.docker
pytest_plugins = ["tests.fakes.metadata"]
REGISTRY = "https://pypi.org/simple/six/"


class HostListener:
    """A TCP listener on 0.0.0.0 at a free port, noting who connected."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("0.0.0.0", 0))  # noqa: S104  (the point of the test)
        self.port = self.socket.getsockname()[1]
        self.peers: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, (peer, _) = self.socket.accept()
            except OSError:
                return
            self.peers.append(peer)
            connection.close()

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def host_listener():
    listener = HostListener()
    yield listener
    listener.close()


def host_addresses() -> dict[str, list[str]]:
    """Every IPv4 address of this machine but loopback's, by interface: eth0, docker0, each bridge."""
    found = json.loads(subprocess.run(["ip", "-j", "-4", "addr"], check=True, capture_output=True).stdout)
    return {
        interface["ifname"]: [entry["local"] for entry in interface.get("addr_info", [])]
        for interface in found
        if interface["ifname"] != "lo"
    }


def gateway(network) -> str:
    """The host's address on a network's bridge: where its containers' packets leave."""
    bridge = network.attrs["Options"].get("com.docker.network.bridge.name") or f"br-{network.id[:12]}"
    (address,) = host_addresses()[bridge]
    return address


def targets(listener: HostListener, metadata) -> list[str]:
    addresses = sorted(address for found in host_addresses().values() for address in found)
    ours = [f"{address}:{listener.port}" for address in addresses]
    for target in ours:  # the host itself gets through: only the firewall can stop a container
        host, port = target.split(":")
        socket.create_connection((host, int(port)), timeout=5).close()
    assert requests.get(metadata.url, timeout=5).text == metadata.answer
    # The listener's thread notes the host's own knocks when it gets to them: every one is
    # noted before the slate is wiped, or a late one would pass for a container's.
    eventually(lambda: len(listener.peers) >= len(ours), message=lambda: f"{listener.peers} of {ours}")
    listener.peers.clear()
    return [*ours, f"{metadata.address}:{metadata.port}"]


def probe_lines(text: str) -> dict[str, str]:
    lines = (line.split("probe ", 1)[1] for line in text.splitlines() if "probe " in line)
    return dict(line.split(": ", 1) for line in lines if ": " in line)


def assert_contained(results: dict[str, str], tried: list[str]) -> None:
    for target in tried:
        assert results.get(target, "").startswith("blocked"), (target, results)
    assert socket.inet_aton(results["dns pypi.org"])  # the name resolved to an address
    assert results[REGISTRY] == "200", results


def test_a_build_step_and_an_instance_reach_neither_the_host_nor_the_metadata_service(
    worker, alice, make_repo, host_listener, fake_metadata
):
    repo = make_repo("network-probe")
    tried = targets(host_listener, fake_metadata)
    repo.commit("Where to knock", {"targets": " ".join(tried) + "\n"})
    builds = docker.from_env().networks.get("bridge")
    assert f"{gateway(builds)}:{host_listener.port}" in tried  # the builds' own way out

    deployment = wait_for(actions.deploy_repository(alice, name="probe", repository_url=repo.url))
    assert deployment.state == Deployment.State.RUNNING, log_text(deployment)
    assert_contained(probe_lines(log_text(deployment)), tried)
    assert host_listener.peers == []

    # The instance, on its environment's own network, tries again from there.
    network = docker.from_env().networks.get(network_name(deployment.service.environment_id))
    tried = targets(host_listener, fake_metadata)
    assert f"{gateway(network)}:{host_listener.port}" in tried
    (container,) = network.containers
    exit_code, output = container.exec_run(["python", "probe.py", *tried], workdir="/app")
    assert exit_code == 0, output
    assert_contained(probe_lines(output.decode()), tried)
    assert host_listener.peers == []

    # The way in still works: the host reaches the instance at its address on the network.
    address = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
    assert requests.get(f"http://{address}:8080/", timeout=5).text == "hello from network-probe"
