"""Benchmark: one web replica against three, through the proxy; a rolling update against a switch.

Run it as `.venv/bin/python bench/replicas.py [--rounds N] [--seconds S]`; it is not a test.
Needs `wrk` (Debian's package, installed by `make test`).

The Go sample app is deployed through the platform (real worker, the bench's own proxy),
then, alternating in each round: `wrk` (32 connections) through the proxy with 1 replica
and with 3 (scaled by the same action as `m3o ps:scale`), and a redeploy of 3 replicas
(a rolling update, one replica at a time) against a redeploy of 1 (the plain switch).
It prints the ratios 3/1 of each. A rolling update waits for each new replica's health
check in turn, so about N times a switch's start is expected; throughput scales with
replicas only as far as the machine's cores do.
"""

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from deploy import (
    ROOT,
    clean_engine,
    commit,
    configure,
    new_images,
    run,
    start_proxies,
    start_worker,
    stop_proxies,
    stop_worker,
)

APP = ROOT / "tests" / "apps" / "go-detected"
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, host: str, threads: str, connections: str, seconds: int) -> dict[str, float]:
    """bench/ingress.py's load (that module's name is the ingress app's once Django is set up)."""
    out = run(
        "wrk", "-t", threads, "-c", connections, "-d", f"{seconds}s", "--latency", url, "-H", f"Host: {host}"
    )
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    result["p99"] = float(value) * UNITS[unit]
    return result


def settle(deployment):
    while not deployment.settled:
        time.sleep(0.1)
        deployment.refresh_from_db()
    if deployment.state != deployment.State.RUNNING:
        raise RuntimeError(f"deployment {deployment.state}: {deployment.failure_reason}")
    return deployment


def scale(service, user, count: int) -> None:
    """Scale web and wait for the worker's last step (its routes loaded, or the replicas stopped)."""
    from deployments import scaling
    from deployments.models import LogLine

    said = LogLine.objects.filter(
        deployment=service.live_deployment, text__startswith=f"==> web runs {count} "
    )
    before = said.count()
    scaling.scale(service, user, {"web": count})
    deadline = time.monotonic() + 120
    while said.count() == before:
        if time.monotonic() > deadline:
            raise RuntimeError(f"web never ran {count} replicas")
        time.sleep(0.1)
    # The proxy's old workers close their idle connections a moment after a reload: not under load.
    time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk (make test installs it)")
    tmp = Path(tempfile.mkdtemp(prefix="m3o-bench-replicas-"))
    configure(tmp)
    import django

    django.setup()
    import docker
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from deployments import actions
    from deployments.models import Service
    from ingress.names import service_url

    client = docker.from_env()
    preexisting = {image.id for image in client.images.list(all=True)}
    worker, proxies, made = None, None, []
    load = {1: [], 3: []}
    rolls = {1: [], 3: []}
    try:
        proxies = start_proxies(tmp)
        call_command("migrate", verbosity=0)
        worker = start_worker(tmp / "worker.log")
        user = get_user_model().objects.create_user("bench", "bench@example.com", None)
        repo = tmp / "repo"
        shutil.copytree(APP, repo)
        run("git", "init", "-q", "-b", "main", cwd=repo)
        commit(repo, "First version")
        deployment = settle(actions.deploy_repository(user, name="bench", repository_url=f"file://{repo}"))
        made += new_images(client, deployment.image, preexisting)
        service = deployment.service
        host = service_url(service).split("//", 1)[1].split(":", 1)[0]
        through = f"http://127.0.0.1:{settings.INGRESS_HTTP_PORT}/"
        running = 1
        for n in range(1, args.rounds + 1):
            for count in (1, 3):
                if count != running:
                    scale(Service.objects.get(pk=service.pk), user, count)
                    running = count
                result = wrk(through, host, "2", "32", args.seconds)
                load[count].append(result)
                print(f"round {n} {count} replica(s) through the proxy {result['rps']:>9.0f} req/s  "
                      f"p99 {result['p99']:.3f} ms")  # fmt: skip
                started = time.monotonic()
                settle(actions.request_deploy(Service.objects.get(pk=service.pk), user))
                rolls[count].append(time.monotonic() - started)
                print(f"round {n} redeploy of {count} replica(s) {rolls[count][-1]:6.2f} s")
        report(load, rolls)
    finally:
        stop_worker(worker)
        stop_proxies(proxies)
        clean_engine(client, made)
        shutil.rmtree(tmp, ignore_errors=True)


def report(load: dict, rolls: dict) -> None:
    def median(count: int, key: str) -> float:
        return statistics.median(r[key] for r in load[count])

    print(f"\n{'replicas':<10}{'req/s':>10}{'p99 ms':>10}{'redeploy s':>12}")
    for count in (1, 3):
        print(f"{count:<10}{median(count, 'rps'):>10.0f}{median(count, 'p99'):>10.3f}"
              f"{statistics.median(rolls[count]):>12.2f}")  # fmt: skip
    print(f"3 replicas / 1: {median(3, 'rps') / median(1, 'rps'):.2f}x the requests/s, "
          f"{median(3, 'p99') / median(1, 'p99'):.2f}x the p99; a rolling update of 3 takes "
          f"{statistics.median(rolls[3]) / statistics.median(rolls[1]):.2f}x a 1-replica switch")  # fmt: skip
    print("(medians; 32 connections, wrk on the same machine; redeploys rebuild from the cache)")


if __name__ == "__main__":
    main()
