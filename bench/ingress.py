"""Benchmark: one service through the proxy against the same container reached directly.

Run it as `.venv/bin/python bench/ingress.py [--rounds N] [--seconds S]`; it is not a test.
Needs `wrk` (Debian's package, installed by `make test`).

A Go app is deployed through the platform (real worker, real proxy of the
bench's own on free ports), then `wrk` loads it both ways, alternating, in the
same run: one connection for latency (p50, p99), 32 for throughput. Target:
the proxy adds at most 1 ms at p50 and keeps at least 80% of the direct
requests per second.
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
LOADS = {"latency": ("1", "1"), "throughput": ("2", "32")}  # wrk threads, connections
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, host: str | None, threads: str, connections: str, seconds: int) -> dict[str, float]:
    command = ["wrk", "-t", threads, "-c", connections, "-d", f"{seconds}s", "--latency", url]
    if host:
        command += ["-H", f"Host: {host}"]
    out = run(*command)
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for percent in ("50", "99"):
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        result[f"p{percent}"] = float(value) * UNITS[unit]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk (make test installs it)")
    tmp = Path(tempfile.mkdtemp(prefix="m3o-bench-ingress-"))
    configure(tmp)
    import django

    django.setup()
    import docker
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from deployments import actions
    from ingress.names import service_url

    client = docker.from_env()
    preexisting = {image.id for image in client.images.list(all=True)}
    worker, proxies, made = None, None, []
    try:
        proxies = start_proxies(tmp)
        call_command("migrate", verbosity=0)
        worker = start_worker(tmp / "worker.log")
        user = get_user_model().objects.create_user("bench", "bench@example.com", None)
        repo = tmp / "repo"
        shutil.copytree(APP, repo)
        run("git", "init", "-q", "-b", "main", cwd=repo)
        commit(repo, "First version")
        deployment = actions.deploy_repository(user, name="bench", repository_url=f"file://{repo}")
        while not deployment.settled:
            time.sleep(0.2)
            deployment.refresh_from_db()
        if deployment.state != deployment.State.RUNNING:
            raise RuntimeError(f"deployment {deployment.state}: {deployment.failure_reason}")
        made += new_images(client, deployment.image, preexisting)
        host = service_url(deployment.service).split("//", 1)[1].split(":", 1)[0]
        through = f"http://127.0.0.1:{settings.INGRESS_HTTP_PORT}/"
        print(f"direct: {deployment.url}   proxy: {through} (Host: {host})")
        results = {(load, path): [] for load in LOADS for path in ("direct", "proxy")}
        for n in range(1, args.rounds + 1):
            for load, (threads, connections) in LOADS.items():
                for path, url, header in (("direct", deployment.url, None), ("proxy", through, host)):
                    result = wrk(url, header, threads, connections, args.seconds)
                    results[load, path].append(result)
                    print(f"round {n} {load:<10} {path:<6} {result['rps']:>9.0f} req/s  "
                          f"p50 {result['p50']:.3f} ms  p99 {result['p99']:.3f} ms")  # fmt: skip
        report(results)
    finally:
        stop_worker(worker)
        stop_proxies(proxies)
        clean_engine(client, made)
        shutil.rmtree(tmp, ignore_errors=True)


def report(results: dict) -> None:
    def median(load: str, path: str, key: str) -> float:
        return statistics.median(r[key] for r in results[load, path])

    print(f"\n{'load':<12}{'':<8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for load in LOADS:
        for path in ("direct", "proxy"):
            print(f"{load:<12}{path:<8}{median(load, path, 'rps'):>10.0f}"
                  f"{median(load, path, 'p50'):>10.3f}{median(load, path, 'p99'):>10.3f}")  # fmt: skip
    added = median("latency", "proxy", "p50") - median("latency", "direct", "p50")
    added99 = median("latency", "proxy", "p99") - median("latency", "direct", "p99")
    kept = median("throughput", "proxy", "rps") / median("throughput", "direct", "rps")
    print(f"p50 added by the proxy: {added:.3f} ms (target <= 1 ms) {'met' if added <= 1 else 'NOT met'}; "
          f"p99 added: {added99:.3f} ms")  # fmt: skip
    verdict = "met" if kept >= 0.8 else "NOT met"
    print(f"throughput through the proxy: {kept:.0%} of direct (target >= 80%) {verdict}")
    print("(medians; latency: 1 connection, throughput: 32 connections; wrk on the same machine)")


if __name__ == "__main__":
    main()
