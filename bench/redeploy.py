"""Benchmark: a redeploy after a change of code alone, through the platform and by hand.

Run it as `.venv/bin/python bench/redeploy.py [--rounds N]`; it is not a test.

The sample app (tests/apps/flask-no-procfile: Flask and gunicorn from PyPI) is
deployed once to fill the cache. Each round then commits a change to app.py
only and deploys it through the platform, then commits another and runs the
same generated Dockerfile with `git clone` + `docker build` + `docker run` by
hand. Both reuse the dependency layer (`pip install -r requirements.txt`): only
`COPY . .` and what follows is built again, which is the point of installing
dependencies before the source is copied.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

import docker
import redis

# The other bench's helpers: bench/ is on the path when this file is run as a script.
from deploy import (
    RAW_REPOSITORY,
    REDIS_URL,
    ROOT,
    clean_engine,
    commit,
    configure,
    deploy_platform,
    deploy_raw,
    new_images,
    phases,
    run,
    start_proxies,
    start_worker,
    stop_proxies,
    stop_worker,
)

APP = ROOT / "tests" / "apps" / "flask-no-procfile"
TARGET = 1.25


def change_code(repo: Path) -> None:
    """A new app.py: every layer up to `COPY . .` hits the cache, the rest is rebuilt."""
    text = (APP / "app.py").read_text().rstrip()
    (repo / "app.py").write_text(f"{text}\n# bench {uuid.uuid4().hex}\n")
    commit(repo, "Change the code only")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
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
    client.images.get(settings.BASE_IMAGES["python"])  # fails early without the base image
    preexisting = {image.id for image in client.images.list(all=True)}
    worker, proxies, made = None, None, []
    platform, raw = [], []
    try:
        proxies = start_proxies(tmp)
        call_command("migrate", verbosity=0)
        redis.Redis.from_url(REDIS_URL).delete("bench")
        worker = start_worker(tmp / "worker.log")
        user = get_user_model().objects.create_user("bench", "bench@example.com", None)
        repo = tmp / "repo"
        shutil.copytree(APP, repo)
        run("git", "init", "-q", "-b", "main", cwd=repo)
        commit(repo, "First version")
        url = f"file://{repo}"
        elapsed, _, deployment = deploy_platform(user, url)  # fills the dependency layer
        made += new_images(client, deployment.image, preexisting)
        print(f"first deploy (dependencies installed) {elapsed:6.2f} s")
        for n in range(1, args.rounds + 1):
            change_code(repo)
            elapsed, _, deployment = deploy_platform(user, url)
            made += new_images(client, deployment.image, preexisting)
            platform.append(elapsed)
            print(f"round {n} code-only platform {elapsed:6.2f} s  {phases(deployment, elapsed)}")
            change_code(repo)
            tag = f"{RAW_REPOSITORY}:code-{n}"
            elapsed = deploy_raw(url, tmp, tag)
            made += new_images(client, tag, preexisting)
            raw.append(elapsed)
            print(f"round {n} code-only raw      {elapsed:6.2f} s")
        ratio = statistics.median(platform) / statistics.median(raw)
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(
            f"code-only redeploy: platform {statistics.median(platform):.2f} s, raw docker build "
            f"{statistics.median(raw):.2f} s, platform/raw = {ratio:.2f}x (target <= {TARGET}x) {verdict}"
        )
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
