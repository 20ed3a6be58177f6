"""Benchmark: deploy a sample app through the platform and by hand (git + docker), cold and warm.

Run it as `.venv/bin/python bench/deploy.py [--rounds N]`; it is not a test.

Each round runs: cold platform, cold raw, warm platform, warm raw. Before each
cold run a unique comment is committed to requirements.txt, so every layer from
`COPY requirements.txt` on misses the engine's cache while FROM still hits. A
warm run deploys the same commit again, so every layer hits. Both paths use the
engine's classic builder (the platform's API call does; DOCKER_BUILDKIT=0 for
the CLI), so they share one cache and build the same Dockerfile and context.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path

import docker
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "apps" / "python-detected"
PLATFORM = "m3o-bench"
LABEL = f"org.m3o.platform={PLATFORM}"
RAW_REPOSITORY = "m3o-bench-raw"
REDIS_URL = "redis://127.0.0.1:6379/14"
POLL = 0.1
TIMEOUT = 600
TARGETS = {"cold": 1.15, "warm": 1.5}
PATHS = ("platform", "running", "raw")
# Log lines of the pipeline that end a phase, for the per-deployment breakdown.
MARKS = (("clone", "==> Commit"), ("send", "Step 1/"), ("build", "==> Built image"),
         ("start", "==> Started;"), ("health", "==> Healthy"), ("switch", "==> Running at"))  # fmt: skip


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run(args, cwd=cwd, env=full_env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def configure(tmp: Path) -> None:
    """The bench's own settings: its database, queue and proxies (on free ports), for it and its worker."""
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "portal.settings", "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "M3O_VAR_DIR": str(tmp / "var"), "WORKSPACE_DIR": str(tmp / "workspace"),
        "ALLOW_LOCAL_REPOSITORIES": "1", "PLATFORM_NAME": PLATFORM, "REDIS_URL": REDIS_URL,
        "DEPLOY_QUEUE": "bench", "SECRET_KEY": "bench", "DEBUG": "1",
        "INGRESS_ADMIN_ADDRESS": f"127.0.0.1:{free_port()}", "INGRESS_HTTP_PORT": str(free_port()),
        "INGRESS_HTTPS_PORT": str(free_port()), "INGRESS_STATE_DIR": str(tmp / "ingress"),
        "INGRESS_CONTROL_ADDRESS": f"127.0.0.1:{free_port()}", "INGRESS_CHALLENGE_PORT": str(free_port()),
    })  # fmt: skip
    sys.path.insert(0, str(ROOT))


def start_proxies(tmp: Path):
    """The reverse proxies of the bench's own (after django.setup())."""
    from django.conf import settings

    from ingress import proxy

    proxies = proxy.launch(settings.INGRESS_STATE_DIR, settings.INGRESS_ADMIN_ADDRESS, tmp / "proxy.log")
    deadline = time.monotonic() + 30
    while not proxy.ping():
        if proxies.poll() is not None or time.monotonic() > deadline:
            stop_proxies(proxies)
            raise RuntimeError(f"the proxies did not start:\n{(tmp / 'proxy.log').read_text()}")
        time.sleep(0.05)
    return proxies


def stop_proxies(proxies) -> None:
    if proxies is not None:
        proxies.terminate()
        proxies.wait(timeout=20)


def start_worker(log_path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "bench",
               "--concurrency", "1", "--loglevel", "INFO", "-n", "bench@%h",
               "--without-mingle", "--without-gossip"]  # fmt: skip
    with log_path.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + 60
    while b" ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_worker(process)
            raise RuntimeError(f"the worker did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    return process


def stop_worker(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def commit(repo: Path, message: str) -> None:
    run("git", "add", "-A", cwd=repo)
    run("git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", message,
        cwd=repo)  # fmt: skip


def bust_cache(repo: Path) -> None:
    """A new requirements.txt: the layers from `COPY requirements.txt` on miss the cache."""
    requirements = (APP / "requirements.txt").read_text().rstrip()
    (repo / "requirements.txt").write_text(f"{requirements}\n# bench {uuid.uuid4().hex}\n")
    commit(repo, "Bust the layer cache")


def wait_http(url: str, deadline: float) -> None:
    while True:
        with suppress(requests.RequestException):
            requests.get(url, timeout=2)
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(POLL)


def deploy_platform(user, url: str):
    """Seconds until settled and running, seconds until first seen running, the deployment."""
    from deployments import actions

    started = time.monotonic()
    deployment = actions.deploy_repository(user, name="bench", repository_url=url)
    running = None
    while True:
        deployment.refresh_from_db()
        now = time.monotonic()
        if running is None and deployment.state == deployment.State.RUNNING:
            running = now - started
        if deployment.settled:
            break
        if now - started > TIMEOUT:
            raise RuntimeError(f"deployment {deployment.pk} is still {deployment.state}")
        time.sleep(POLL)
    elapsed = now - started
    if deployment.state != deployment.State.RUNNING:
        text = "\n".join(deployment.log_lines.values_list("text", flat=True))
        raise RuntimeError(f"deployment {deployment.pk} {deployment.state}:\n{text}")
    status = requests.get(deployment.url, timeout=5).status_code
    if status != 200:
        raise RuntimeError(f"{deployment.url} answered HTTP {status}")
    return elapsed, running, deployment


def phases(deployment, elapsed: float) -> str:
    """Where the platform's time went, from the log lines' timestamps."""
    lines = list(deployment.log_lines.values_list("text", "created_at"))
    parts = [f"queue {(deployment.started_at - deployment.created_at).total_seconds():.2f}"]
    last = deployment.started_at
    for name, prefix in MARKS:
        at = next((created for text, created in lines if text.startswith(prefix)), None)
        if at is not None:
            parts.append(f"{name} {(at - last).total_seconds():.2f}")
            last = at
    parts.append(f"tail {elapsed - (last - deployment.created_at).total_seconds():.2f}")
    return " | ".join(parts)


def deploy_raw(url: str, work: Path, tag: str) -> float:
    """Seconds from the start of `git clone` to the app's first HTTP answer."""
    from deployments import build

    checkout = Path(tempfile.mkdtemp(prefix="raw-", dir=work)) / "src"
    container = ""
    started = time.monotonic()
    try:
        run("git", "clone", "--quiet", "--depth", "1", "--", url, str(checkout))
        shutil.rmtree(checkout / ".git")  # as the platform does: the same build context
        plan = build.plan(checkout, 8080)  # the same generated Dockerfile, outside the context
        dockerfile = str(checkout.parent / "Dockerfile")
        Path(dockerfile).write_text(plan.dockerfile)
        run("docker", "build", "-f", dockerfile, "-t", tag, str(plan.context), env={"DOCKER_BUILDKIT": "0"})
        container = run("docker", "run", "-d", "--label", LABEL, "-p", "127.0.0.1::8080",
                        "-e", "PORT=8080", tag)  # fmt: skip
        port = run("docker", "port", container, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
        wait_http(f"http://127.0.0.1:{port}/", started + TIMEOUT)
        return time.monotonic() - started
    finally:
        if container:
            run("docker", "rm", "-f", container)
        shutil.rmtree(checkout.parent, ignore_errors=True)


def new_images(client: docker.DockerClient, ref: str, preexisting: set[str]) -> list[str]:
    """The image and its parents that this bench made (classic builds record a Parent)."""
    made, image_id = [], client.images.get(ref).id
    while image_id and image_id not in preexisting:
        made.append(image_id)
        image_id = client.api.inspect_image(image_id).get("Parent")
    return made


def clean_engine(client: docker.DockerClient, made: list[str]) -> None:
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        with suppress(docker.errors.APIError):
            container.remove(force=True)
    for network in client.networks.list(filters={"label": LABEL}):
        with suppress(docker.errors.APIError):
            network.remove()
    images = client.images.list(name=f"{PLATFORM}-app/*") + client.images.list(name=RAW_REPOSITORY)
    for ref in [tag for image in images for tag in image.tags] + made:
        with suppress(docker.errors.APIError):
            client.images.remove(ref)


def report(times: dict[tuple[str, str], list[float]], rounds: int) -> None:
    print(f"\n{'round':<7}{'kind':<6}{'platform':>10}{'(running)':>11}{'raw':>9}{'ratio':>8}")
    for n in range(rounds):
        for kind in TARGETS:
            platform, running, raw = (times[kind, path][n] for path in PATHS)
            print(f"{n + 1:<7}{kind:<6}{platform:>9.2f}s{running:>10.2f}s{raw:>8.2f}s{platform / raw:>7.2f}x")
    for kind, target in TARGETS.items():
        platform, running, raw = (statistics.median(times[kind, path]) for path in PATHS)
        verdict = "met" if platform / raw <= target else "NOT met"
        print(f"{kind}: platform/raw = {platform / raw:.2f}x (target <= {target}x) {verdict}; "
              f"until first seen running {running / raw:.2f}x")  # fmt: skip
    print("(medians; platform = until settled, (running) = until its state was first seen running)")


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
    times = {(kind, path): [] for kind in TARGETS for path in PATHS}
    try:
        proxies = start_proxies(tmp)
        call_command("migrate", verbosity=0)
        redis.Redis.from_url(REDIS_URL).delete("bench")  # tasks left by an interrupted run
        worker = start_worker(tmp / "worker.log")
        user = get_user_model().objects.create_user("bench", "bench@example.com", None)
        repo = tmp / "repo"
        shutil.copytree(APP, repo)
        run("git", "init", "-q", "-b", "main", cwd=repo)
        commit(repo, "First version")
        url = f"file://{repo}"
        for n in range(1, args.rounds + 1):
            for kind in TARGETS:
                if kind == "cold":
                    bust_cache(repo)
                elapsed, seen_running, deployment = deploy_platform(user, url)
                made += new_images(client, deployment.image, preexisting)
                times[kind, "platform"].append(elapsed)
                times[kind, "running"].append(seen_running)
                print(f"round {n} {kind} platform {elapsed:6.2f} s  {phases(deployment, elapsed)}")
                if kind == "cold":
                    bust_cache(repo)
                tag = f"{RAW_REPOSITORY}:r{n}-{kind}"
                elapsed = deploy_raw(url, tmp, tag)
                made += new_images(client, tag, preexisting)
                times[kind, "raw"].append(elapsed)
                print(f"round {n} {kind} raw      {elapsed:6.2f} s")
        report(times, args.rounds)
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
