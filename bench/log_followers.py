"""Benchmark: 200 runtime-log followers on a 2-worker web process, and the pages still answer.

Run it as `.venv/bin/python bench/log_followers.py [--followers N] [--seconds S]`; it is
not a test. It needs Redis (REDIS_URL) and a database: DATABASE_URL, or a SQLite file of
its own that it migrates first (minutes on a slow machine).

The web process is started as the Procfile starts it (gunicorn, uvicorn's worker, 2
workers). One service has a live deployment whose stored runtime log grows by two
lines a second (--lines-per-second), as the worker's collector would write it. N
clients follow it through `/api/services/ID/logs/follow/` at once; meanwhile other
pages (an API detail, the sign-in page) are timed, and the same pages are timed
again with no follower, in the same run.
Target: with every follower connected and receiving, the slowest page answers within 1 s.
"""

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("/api/services/{service}/", "/accounts/login/")


def configure(tmp: Path) -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "portal.settings", "M3O_VAR_DIR": str(tmp / "var"),
        "PLATFORM_NAME": os.environ.get("PLATFORM_NAME", "m3o-bench"), "SECRET_KEY": "bench",
        "DEBUG": "1", "HTTPS": "0", "ALLOWED_HOSTS": "127.0.0.1",
        "API_STREAM_SECONDS": "600",
    })  # fmt: skip
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'bench.sqlite3'}")
    sys.path.insert(0, str(ROOT))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_service():
    """A user, a token and a service whose live deployment runs (as far as the database knows)."""
    from django.contrib.auth import get_user_model

    from api.tokens import create_token
    from deployments.models import Deployment, Service
    from environments.actions import get_or_create_environment

    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"email": "bench@example.com"}
    )
    environment = get_or_create_environment(user)
    service, _ = Service.objects.get_or_create(
        environment=environment, name="ticker", defaults={"repository_url": "https://example.com/t.git"}
    )
    deployment = Deployment.objects.create(
        service=service, branch="main", state=Deployment.State.RUNNING, instance_id="bench", host_port=1
    )
    Service.objects.filter(pk=service.pk).update(live_deployment=deployment)
    _, token = create_token(user, "bench")
    return service.pk, deployment.pk, token


def write_lines(deployment_id: int, stop: threading.Event, per_second: float) -> None:
    from datetime import UTC, datetime

    from deployments import runtime_logs

    number = 0
    while not stop.wait(1 / per_second):
        number += 1
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        runtime_logs.append(deployment_id, [(stamp, f"tick {number}")])


def start_web(port: int, log: Path) -> subprocess.Popen:
    procfile = (ROOT / "Procfile").read_text()
    assert "uvicorn_worker.UvicornWorker" in procfile, "the Procfile's web process is not the one measured"
    web = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "portal.asgi", "-k", "uvicorn_worker.UvicornWorker",
         "--workers", "2", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).raise_for_status()
            return web
        except requests.RequestException:
            time.sleep(0.2)
    stop_web(web)
    raise RuntimeError(f"the web process did not answer:\n{log.read_text()}")


def stop_web(web: subprocess.Popen) -> None:
    """gunicorn and its workers, as one process group."""
    os.killpg(web.pid, signal.SIGTERM)
    try:
        web.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(web.pid, signal.SIGKILL)
        web.wait()


def time_pages(port: int, service: int, token: str, rounds: int) -> list[float]:
    took = []
    for _ in range(rounds):
        for page in PAGES:
            started = time.monotonic()
            requests.get(
                f"http://127.0.0.1:{port}{page.format(service=service)}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ).raise_for_status()
            took.append(time.monotonic() - started)
    return took


async def follow(port: int, service: int, token: str, counts: list[int], index: int, stop: asyncio.Event):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
    writer.write(
        f"GET /api/services/{service}/logs/follow/?tail=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/x-ndjson\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"follower {index}: {status!r}")
    while not stop.is_set():
        try:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=1.0)
        except TimeoutError:
            continue
        if not chunk:
            break
        counts[index] += chunk.count(b'"text"')
    writer.close()


async def measure(port: int, service: int, token: str, followers: int, seconds: float) -> dict:
    counts = [0] * followers
    stop = asyncio.Event()
    tasks = [asyncio.create_task(follow(port, service, token, counts, i, stop)) for i in range(followers)]
    deadline = time.monotonic() + 120
    while min(counts) == 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {sum(1 for c in counts if c)} of {followers} followers got a line")
        for task in tasks:
            if task.done() and task.exception():
                raise task.exception()
        await asyncio.sleep(0.2)
    before = list(counts)
    rounds = max(1, int(seconds))
    took = await asyncio.to_thread(time_pages, port, service, token, rounds)
    during = [after - first for after, first in zip(counts, before, strict=True)]
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"pages": took, "lines_during": during}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10, help="rounds of page requests while following")
    parser.add_argument("--lines-per-second", type=float, default=2, help="how fast the followed log grows")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    tmp = Path(tempfile.mkdtemp(prefix="m3o-bench-followers-"))
    configure(tmp)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    service, deployment, token = make_service()
    stop = threading.Event()
    writer = threading.Thread(target=write_lines, args=(deployment, stop, args.lines_per_second), daemon=True)
    writer.start()
    port = free_port()
    web = start_web(port, tmp / "web.log")
    try:
        quiet = time_pages(port, service, token, max(1, int(args.seconds)))
        result = asyncio.run(measure(port, service, token, args.followers, args.seconds))
    finally:
        stop.set()
        stop_web(web)
    busy, lines = result["pages"], result["lines_during"]
    print(
        f"pages with no follower:    p50 {statistics.median(quiet) * 1000:.0f} ms, "
        f"max {max(quiet) * 1000:.0f} ms"
    )
    print(
        f"pages with {args.followers} followers: p50 {statistics.median(busy) * 1000:.0f} ms, "
        f"max {max(busy) * 1000:.0f} ms"
    )
    print(f"lines each follower got meanwhile: min {min(lines)}, median {statistics.median(lines):.0f}")
    ok = max(busy) < 1.0 and min(lines) > 0
    print("target (slowest page under 1 s, every follower receiving):", "met" if ok else "NOT met")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
