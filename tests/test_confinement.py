"""Builds and instances stay in their box: real worker, real engine, code that tries to get out.

A worker of its own runs these with small limits, so the bombs go off quickly.
"""

import threading
from pathlib import Path

import pytest
import requests
from django.conf import settings

from deployments import actions
from deployments.runtime.cgroups import CGROUP_FS, ROOT
from tests.conftest import log_text, wait_for

pytestmark = [pytest.mark.docker]

BUILD_PIDS = 64
BUILD_MEMORY_MB = 128
INSTANCE_PIDS = 32


@pytest.fixture(scope="module")
def confined_worker(worker_factory):
    return worker_factory(
        "confinement",
        BUILD_CONFINED="1",
        BUILD_PIDS=str(BUILD_PIDS),
        BUILD_MEMORY_MB=str(BUILD_MEMORY_MB),
        INSTANCE_PIDS=str(INSTANCE_PIDS),
    )


@pytest.fixture
def worker(confined_worker, transactional_db, settings, engine_clean_up):
    settings.DEPLOY_QUEUE = confined_worker.queue
    return confined_worker


def deploy(user, repo, name):
    return actions.deploy_repository(user, name=name, repository_url=repo.url)


def build_groups(deployment) -> list[Path]:
    """What is left of the deployment's build cgroup, in any hierarchy."""
    relative = Path(ROOT, settings.PLATFORM_NAME, f"d{deployment.pk}")
    return [path for path in [CGROUP_FS / relative, *CGROUP_FS.glob(f"*/{relative}")] if path.exists()]


class Watch(threading.Thread):
    """Ask an app for its page over and over, recording every answer that is not a 200."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.done = threading.Event()
        self.asked = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.asked += 1
            try:
                response = requests.get(self.url, timeout=5)
                if response.status_code != 200:
                    self.failures.append(f"HTTP {response.status_code}")
            except requests.RequestException as exc:
                self.failures.append(str(exc))


def test_fork_and_memory_bombs_fail_their_builds_while_a_neighbour_keeps_answering(
    worker, alice, bob, make_repo
):
    neighbour = wait_for(deploy(alice, make_repo("python-dockerfile"), "web"))
    assert neighbour.state == "running", log_text(neighbour)
    watch = Watch(neighbour.url)
    watch.start()
    try:
        fork_bomb = deploy(bob, make_repo("fork-bomb"), "forks")
        memory_bomb = deploy(bob, make_repo("memory-bomb"), "memory")
        fork_bomb, memory_bomb = wait_for(fork_bomb), wait_for(memory_bomb)
    finally:
        watch.done.set()
        watch.join()

    assert fork_bomb.state == "failed", log_text(fork_bomb)
    assert f"The build hit its process limit of {BUILD_PIDS} processes" in fork_bomb.failure_reason
    assert memory_bomb.state == "failed", log_text(memory_bomb)
    assert (
        f"The build ran out of memory: a step needed more than the build's {BUILD_MEMORY_MB} MB"
        in memory_bomb.failure_reason
    )
    # Alice's app answered all along, and still does.
    assert watch.asked > 0
    assert watch.failures == []
    assert requests.get(neighbour.url, timeout=5).text == "hello from python-dockerfile v1"
    # The builds' own cgroups went with them.
    assert build_groups(fork_bomb) == []
    assert build_groups(memory_bomb) == []


def test_build_steps_and_instances_get_no_raw_sockets_no_setuid_and_few_processes(worker, alice, make_repo):
    deployment = wait_for(deploy(alice, make_repo("escape-attempts"), "escape"))
    assert deployment.state == "running", log_text(deployment)

    report = requests.get(deployment.url.rstrip("/") + "/attempts", timeout=30).text.splitlines()

    # A build step running as root has no NET_RAW; as a user, a setuid binary gains nothing.
    assert report[0].startswith("build raw socket: refused"), report
    assert report[1].startswith("build setuid: refused"), report
    # The running instance: the same, and no more processes than its limit.
    assert report[2].startswith("running raw socket: refused"), report
    assert report[3].startswith("running setuid: refused"), report
    assert report[4].startswith("running processes: refused after"), report
    started = int(report[4].split("refused after ")[1].split()[0])
    assert started < INSTANCE_PIDS
