"""The Docker engine restarts in the middle of a deployment: the deployment ends in a final
state, and nothing is left on the engine or on disk that nothing owns.

The engine here is one of this module's own (its own socket, data root, exec root and
default bridge, no iptables rules), so restarting it disturbs no other test or session.
It must never run with `--bridge=none`: dockerd then deletes the host's docker0, which
the machine's own engine needs.
"""

import ipaddress
import secrets
import shutil
import signal
import subprocess
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

import docker
import pytest
import requests

from deployments import actions
from deployments.models import Deployment
from tests.conftest import log_text, wait_for
from tests.waiting import eventually

pytestmark = [pytest.mark.docker]
State = Deployment.State
DEFAULT_NETWORKS = {"host", "none", "bridge"}
BASE_IMAGE = "m3o-base/static:bookworm"  # the smallest base image; the app below builds on it
# Ranges of its own: the module's networks never overlap the shared engine's bridges.
NETWORK_POOLS = [f"10.{second}.0.0/20" for second in range(176, 180)]


def routed() -> list[ipaddress.IPv4Network]:
    """The host's routes: a bridge another engine left behind keeps its route until removed."""
    answer = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True, check=True)
    found = []
    for line in answer.stdout.splitlines():
        with suppress(ValueError):
            found.append(ipaddress.IPv4Network(line.split()[0]))
    return found


def free_pool() -> str:
    """A pool no route on the host overlaps: a subnet picked from it that a stale bridge also
    routes would send the health checks to that bridge, and the app would seem never to answer."""
    taken = routed()
    for pool in NETWORK_POOLS:
        if not any(ipaddress.IPv4Network(pool).overlaps(route) for route in taken):
            return pool
    raise AssertionError(f"every one of {NETWORK_POOLS} meets a route on this host: {taken}")


class Engine:
    """A dockerd of the test's own, started and restarted at will."""

    def __init__(self, root: Path, bridge: str) -> None:
        self.root = root
        self.bridge = bridge
        self.host = f"unix://{root / 'docker.sock'}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = (self.root / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            ["dockerd", "-H", self.host, "--data-root", str(self.root / "data"),
             "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "docker.pid"),
             "--bridge", self.bridge, "--iptables=false", "--ip-masq=false"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        eventually(self._answers, timeout=60, interval=0.2, message=self._log_tail)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, timeout=60)

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"dockerd exited:\n{self._log_tail()}")
        try:
            return self.client().ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return False

    def _log_tail(self) -> str:
        return (self.root / "dockerd.log").read_text(errors="replace")[-3000:]


@contextmanager
def own_bridge():
    """A bridge for the engine's default network, on an address of its own."""
    name = f"m3ob{secrets.token_hex(4)}"
    address = f"10.183.{secrets.randbelow(256)}.1/24"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", address, "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "delete", name], check=False)


@pytest.fixture(scope="module")
def own_engine():  # engine-wide: the module's own engine
    root = Path(tempfile.mkdtemp(prefix="m3o-engine-", dir="/tmp"))  # a socket path must be short
    with own_bridge() as bridge:
        engine = Engine(root, bridge)
        try:
            engine.start()
            saved = subprocess.Popen(["docker", "save", BASE_IMAGE], stdout=subprocess.PIPE)
            subprocess.run(["docker", "-H", engine.host, "load", "-q"], stdin=saved.stdout, check=True,
                           capture_output=True)  # fmt: skip
            assert saved.wait() == 0
            yield engine
            client = engine.client()
            for container in client.containers.list(all=True):
                container.remove(force=True)
            # A network removed by its engine takes its bridge and route along; a stopped
            # engine leaves them on the host for good.
            for network in client.networks.list():
                if network.name not in DEFAULT_NETWORKS:
                    network.remove()
        finally:
            engine.stop()
            unmount_under(root)
            shutil.rmtree(root, ignore_errors=True)


def unmount_under(root: Path) -> None:
    """A layer the stopped engine left mounted would keep its files from being removed."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    for point in sorted({line.split()[1] for line in mounts}, reverse=True):
        if point.startswith(f"{root}/"):
            subprocess.run(["umount", "-l", point], check=False)


def everything(engine: Engine) -> dict[str, list[str]]:  # engine-wide: the module's own engine
    """What the engine holds besides the base image: the whole engine is this test's."""
    client = engine.client()
    return {
        "containers": sorted(c.id for c in client.containers.list(all=True)),
        "networks": sorted(n.name for n in client.networks.list() if n.name not in DEFAULT_NETWORKS),
        "images": sorted(t for i in client.images.list() for t in i.tags if t != BASE_IMAGE),
    }


def test_an_engine_restart_mid_build_ends_final_with_nothing_unowned(
    own_engine, worker_factory, transactional_db, settings, alice, make_repo
):
    before = everything(own_engine)
    assert before["containers"] == before["networks"] == before["images"] == []
    worker = worker_factory(
        "engine-restart", DOCKER_HOST=own_engine.host, NETWORK_POOL=free_pool(), DEPLOY_MAX_RETRIES="4"
    )
    settings.DEPLOY_QUEUE = worker.queue
    try:
        repo = make_repo("slow-static")
        repo.commit("a build of its own", {"nonce.txt": str(own_engine.root)})
        deployment = actions.deploy_repository(alice, name="web", repository_url=repo.url)
        eventually(
            lambda: "the slow step begins" in log_text(deployment),
            timeout=120,
            message=lambda: log_text(deployment),
        )
        own_engine.restart()
        deployment = wait_for(deployment)
    finally:
        worker.stop()
    text = log_text(deployment)
    assert deployment.state == State.RUNNING, text
    assert "retrying in" in text  # the broken build was the platform's error, tried again
    assert "hello from slow-static" in requests.get(deployment.url, timeout=5).text
    assert not Deployment.objects.exclude(state__in=[*Deployment.FINAL_STATES, State.RUNNING]).exists()
    after = everything(own_engine)
    assert after["containers"] == [deployment.instance_id]
    assert after["networks"] == [f"{settings.PLATFORM_NAME}-env-{deployment.service.environment_id}"]
    assert after["images"] == [f"{settings.PLATFORM_NAME}-app/s{deployment.service_id}:d{deployment.pk}"]
    # The checkout folder is the session's, shared with other tests: only this deployment's is looked for.
    assert list(Path(settings.WORKSPACE_DIR).glob(f"d{deployment.pk}-*")) == []
