"""Runtime logs: a worker copies each instance's output into a capped Redis stream, and
the dashboard and the API read it there, without any engine connection of their own."""

import json

import pytest
from django.conf import settings

from deployments import actions, runtime_logs
from deployments.log_collector import Collector
from deployments.logs import redis_client
from deployments.models import Deployment
from deployments.runtime import get_runtime
from tests.conftest import wait_for
from tests.waiting import eventually

pytest_plugins = ["tests.queues"]  # deploy_queue: a deployment waits there until the test lets it go


@pytest.fixture
def no_engine_here(monkeypatch):
    """This process cannot reach any container engine: whatever asks it fails."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    get_runtime.cache_clear()
    yield
    get_runtime.cache_clear()


def test_the_dashboard_shows_a_running_instances_output_from_the_store(
    worker, deploy_queue, no_engine_here, alice, bob, client, make_repo, settings
):
    queued = actions.deploy_repository(alice, name="ticker", repository_url=make_repo("ticker").url)
    # The streams outlive the database: an earlier run (or a restored backup) may have left
    # lines under this id. The new deployment shows only its own.
    stale = [(f"2026-01-01T00:00:{i:02d}.5Z", f"tick {i}") for i in range(40, 50)]
    runtime_logs.append(queued.pk, stale)
    settings.DEPLOY_QUEUE = worker.queue
    for pk in deploy_queue.deployments():
        actions.enqueue(pk)
    deployment = wait_for(queued)
    assert deployment.state == Deployment.State.RUNNING
    # The worker collects: ticks land in the deployment's stream as they are printed.
    eventually(lambda: len(runtime_logs.recent(deployment.pk, tail=5)) >= 3, timeout=60)
    assert "tick 49" not in [line.text for line in runtime_logs.recent(deployment.pk, tail=2000)]
    service = deployment.service

    client.force_login(alice)
    page = client.get(f"/services/{service.pk}/logs/", {"tail": "3"}).json()
    assert page["running"] is True
    assert len(page["lines"]) == 3
    # A follower asks for what came after the last line it has: only newer lines.
    cursor = page["lines"][-1]["id"]
    newer = eventually(
        lambda: client.get(f"/services/{service.pk}/logs/", {"after": cursor}).json()["lines"], timeout=30
    )
    ticks = [line["text"] for line in [*page["lines"], *newer] if line["text"].startswith("tick ")]
    numbers = [int(text.split()[1]) for text in ticks]
    assert len(numbers) >= 2
    assert numbers[0] < 40
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # in order, none twice or lost
    assert client.get(f"/services/{service.pk}/logs/", {"after": "../../x"}).status_code == 400
    assert client.get(f"/services/{service.pk}/logs/", {"q": "TICK 1", "tail": "2000"}).json()["lines"]

    # Bob sees nothing of Alice's service, as if it did not exist.
    client.force_login(bob)
    assert client.get(f"/services/{service.pk}/logs/").status_code == 404


def test_the_store_is_capped_and_expires(settings):
    settings.RUNTIME_LOG_MAX_LINES = 100
    settings.RUNTIME_LOG_KEEP_SECONDS = 3600
    deployment_id = 987650
    name = runtime_logs.key(deployment_id)
    redis_client().delete(name)
    try:
        for batch in range(20):
            stamps = [(f"2026-01-01T00:00:{batch:02d}.{i:09d}Z", f"line {batch}-{i}") for i in range(50)]
            runtime_logs.append(deployment_id, stamps)
        # Redis trims whole blocks at a time: near the cap, never the thousand lines written.
        assert 100 <= redis_client().xlen(name) < 300
        assert 0 < redis_client().ttl(name) <= 3600
        last = runtime_logs.recent(deployment_id, tail=1)
        assert [line.text for line in last] == ["line 19-49"]
        # Control characters and overlong lines are cleaned before they are stored.
        runtime_logs.append(deployment_id, [("2026-01-01T00:01:00Z", "\x1b[31mred\x00" + "x" * 5000)])
        (stored,) = runtime_logs.recent(deployment_id, tail=1)
        assert stored.text.startswith("redx")
        assert len(stored.text) < settings.LOG_MAX_LINE_CHARS + 100
    finally:
        redis_client().delete(name)


def test_overlapping_followers_store_each_line_once_in_order(settings):
    """A worker that lost its lease and the one that took over, both copying one instance:
    each line is stored once, and a follower starting from the beginning adds nothing old."""
    import threading

    settings.RUNTIME_LOG_MAX_LINES = 10_000
    deployment_id = 987651
    name = runtime_logs.key(deployment_id)
    redis_client().delete(name)
    lines = [(f"2026-01-01T00:00:{i // 100:02d}.{i % 100:02d}0000000Z", f"tick {i}") for i in range(300)]
    barrier = threading.Barrier(3)

    def follower(start: int) -> None:
        barrier.wait()
        for stamp, text in lines[start:]:
            runtime_logs.append_newer(deployment_id, stamp, text)

    try:
        threads = [threading.Thread(target=follower, args=(start,)) for start in (0, 0, 150)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stored = [line.text for line in runtime_logs.recent(deployment_id, tail=1000)]
        numbers = [int(text.split()[1]) for text in stored]
        # Strictly increasing: nothing twice, nothing older after something newer.
        assert numbers == sorted(set(numbers))
        assert numbers[-1] == 299
        assert not runtime_logs.append_newer(deployment_id, *lines[0])
    finally:
        redis_client().delete(name)


def test_one_worker_per_engine_collects(worker):
    """The session's worker holds the lease; a second collector stands by."""
    lease = f"{settings.PLATFORM_NAME}:lease:runtime-logs:{get_runtime().engine_id()}"
    eventually(lambda: redis_client().exists(lease), timeout=30)
    standby = Collector()
    standby.collect_once()
    assert not standby.holding.is_set()
    assert standby.following == {}


def test_the_api_follows_new_lines_and_the_build_log(worker, alice, live_server, make_repo):
    import requests

    from api.tokens import create_token

    _, token = create_token(alice, "test")
    deployment = wait_for(
        actions.deploy_repository(alice, name="ticker", repository_url=make_repo("ticker").url)
    )
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{live_server.url}/api"
    with requests.get(
        f"{base}/services/{deployment.service_id}/logs/follow/", params={"tail": "1"}, headers=headers,
        stream=True, timeout=30,
    ) as answer:  # fmt: skip
        assert answer.status_code == 200
        seen = []
        for raw in answer.iter_lines():
            text = json.loads(raw)["text"] if raw else ""
            if text.startswith("tick "):
                seen.append(text)
            if len(seen) == 4:
                break
    numbers = [int(text.split()[1]) for text in seen]
    assert numbers == list(range(numbers[0], numbers[0] + 4))  # live, in order, none lost
    with requests.get(
        f"{base}/deployments/{deployment.pk}/log/follow/", headers=headers, stream=True, timeout=30
    ) as answer:  # fmt: skip
        items = [json.loads(raw) for raw in answer.iter_lines() if raw]
    assert items[-1]["deployment"]["state"] == "running"
    assert any("==> " in item.get("text", "") for item in items)


def test_followers_of_one_stream_share_one_read_and_each_gets_every_line_once(settings, monkeypatch):
    """Three followers, one joining late and one falling behind: one reader for all, and
    each sees every line after its own cursor, once, in order."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from api import fanout

    settings.RUNTIME_LOG_MAX_LINES = 10_000
    monkeypatch.setattr(fanout, "_QUEUE", 50)  # a burst of 1500 lines overflows every follower's queue
    deployment_id = 987652
    name = runtime_logs.key(deployment_id)
    redis_client().delete(name)

    def write(first: int, count: int) -> None:
        runtime_logs.append(
            deployment_id,
            [
                (f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z", f"tick {i}")
                for i in range(first, first + count)
            ],
        )

    async def take(client, cursor: str, count: int, seen: list[int]) -> None:
        async for line in fanout.follow(name, cursor, client):
            if line is not None:
                seen.append(int(line.text.split()[1]))
            if len(seen) == count:
                return

    async def scenario() -> list[list[int]]:
        clients = [fanout._client() for _ in range(3)]
        seen: list[list[int]] = [[], [], []]
        try:
            write(0, 10)
            (start,) = await clients[0].xrevrange(name, count=1)
            cursor = start[0].decode()  # after "tick 9"
            early = [asyncio.create_task(take(clients[i], cursor, 1500, seen[i])) for i in (0, 1)]
            # Both have joined before the lines come: one reader serves them. Only this stream's
            # readers count: a web server of an earlier test may still follow another one.
            mine = lambda: [reader for key, reader in list(fanout._readers.items()) if key[1] == name]  # noqa: E731
            joined = lambda: sum(len(reader.followers) for reader in mine()) == 2  # noqa: E731
            await asyncio.to_thread(eventually, joined, timeout=30)
            assert len(mine()) == 1
            await asyncio.to_thread(write, 10, 1500)  # more than a follower's queue holds
            late = asyncio.create_task(take(clients[2], "0-0", 1510, seen[2]))
            await asyncio.wait_for(asyncio.gather(*early, late), timeout=60)
        finally:
            for client in clients:
                await client.aclose()
        return seen

    try:
        # A thread of its own: the browser tests' Playwright keeps an event loop running in this one.
        with ThreadPoolExecutor(1) as pool:
            first, second, late = pool.submit(asyncio.run, scenario()).result()
        assert first == second == list(range(10, 1510))
        assert late == list(range(1510))
    finally:
        redis_client().delete(name)
