"""Benchmark: what confining builds costs a deploy of the sample Python app, cold and cached.

Run it as `.venv/bin/python bench/containment.py [--rounds N]`; it is not a test.

Each round deploys the app through the platform four times: cold and cached with
builds confined (BUILD_CONFINED=1: the build's own cgroup with its limits), then
the same with BUILD_CONFINED=0, each on a worker started with that setting. Cold
busts the layer cache from `COPY requirements.txt` on (see bench/deploy.py);
cached deploys the same commit again. The engine's runtime wrapper
(scripts/m3o-runc) is engine-wide, so it is in both paths; its own cost is
measured apart, as `docker run --rm <image> true` with it and with plain runc.
Confined builds weigh less than the apps (BUILD_CPU_SHARES): on a machine busy
with other work, "on" is slower by design; `--cpu-shares 1024` leaves the weight
out of the comparison.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docker
import redis
from deploy import (
    APP,
    REDIS_URL,
    bust_cache,
    clean_engine,
    commit,
    configure,
    deploy_platform,
    new_images,
    run,
    start_proxies,
    start_worker,
    stop_proxies,
    stop_worker,
)

TARGET = 1.10
KINDS = ("cold", "cached")
MODES = ("on", "off")
CONTAINER_RUNS = 15


def container_seconds(image: str, runtime: str) -> float:
    started = time.monotonic()
    subprocess.run(["docker", "run", "--rm", "--network", "none", "--runtime", runtime, image, "true"],
                   check=True, capture_output=True)  # fmt: skip
    return time.monotonic() - started


def wrapper_cost(image: str) -> tuple[float, float]:
    """Median seconds of a container's whole life, with the wrapper and with plain runc."""
    times = {"m3o-runc": [], "runc": []}
    for _ in range(CONTAINER_RUNS):
        for runtime, seen in times.items():
            seen.append(container_seconds(image, runtime))
    return statistics.median(times["m3o-runc"]), statistics.median(times["runc"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu-shares", type=int, help="BUILD_CPU_SHARES when confined (default: as set)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    tmp = Path(tempfile.mkdtemp(prefix="m3o-bench-"))
    configure(tmp)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    client = docker.from_env()
    base = settings.BASE_IMAGES["python"]
    client.images.get(base)  # fails early without the base image
    preexisting = {image.id for image in client.images.list(all=True)}
    worker, proxies, made = None, None, []
    times = {(kind, mode): [] for kind in KINDS for mode in MODES}
    try:
        proxies = start_proxies(tmp)
        call_command("migrate", verbosity=0)
        redis.Redis.from_url(REDIS_URL).delete("bench")
        user = get_user_model().objects.create_user("bench", "bench@example.com", None)
        repo = tmp / "repo"
        shutil.copytree(APP, repo)
        run("git", "init", "-q", "-b", "main", cwd=repo)
        commit(repo, "First version")
        url = f"file://{repo}"
        for n in range(1, args.rounds + 1):
            for mode in MODES:
                os.environ["BUILD_CONFINED"] = "1" if mode == "on" else "0"
                if args.cpu_shares:
                    os.environ["BUILD_CPU_SHARES"] = str(args.cpu_shares)
                worker = start_worker(tmp / f"worker-{n}-{mode}.log")
                for kind in KINDS:
                    if kind == "cold":
                        bust_cache(repo)
                    elapsed, _, deployment = deploy_platform(user, url)
                    made += new_images(client, deployment.image, preexisting)
                    times[kind, mode].append(elapsed)
                    print(f"round {n} {kind:<6} confinement {mode:<3} {elapsed:6.2f} s")
                stop_worker(worker)
                worker = None
        with_wrapper, plain = wrapper_cost(base)
        print(f"\n{'kind':<8}{'on':>9}{'off':>9}{'ratio':>8}")
        for kind in KINDS:
            on, off = (statistics.median(times[kind, mode]) for mode in MODES)
            verdict = "met" if on / off <= TARGET else "NOT met"
            print(f"{kind:<8}{on:>8.2f}s{off:>8.2f}s{on / off:>7.2f}x  (target <= {TARGET}x) {verdict}")
        print(f"(medians of {args.rounds} rounds; until the deployment settled, running)")
        print(f"a container's life, docker run --rm: {with_wrapper:.3f} s through m3o-runc, "
              f"{plain:.3f} s with runc ({with_wrapper / plain:.2f}x; in both columns above)")  # fmt: skip
    finally:
        stop_worker(worker)
        stop_proxies(proxies)
        redis.Redis.from_url(REDIS_URL).delete(
            "bench", "_kombu.binding.bench", "_kombu.binding_permanent.bench"
        )
        clean_engine(client, made)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
