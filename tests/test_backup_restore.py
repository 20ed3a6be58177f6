"""`make upgrade`, `make backup` and `make restore` against a real engine, proxy and database.

An upgrade: a checkout of the previous commit is brought to this one by
scripts/upgrade.sh (fetch, dependencies, migrations, static files) and its
worker restarts on the new code, running its reconcile pass, while a client
asks a deployed app through the proxy and counts no failure.

A restore: the backup is taken of a platform with a running service, a secret
and an upload; then the engine is wiped (containers, networks, images), the old
var/ is removed, and the archive is restored by a fresh copy of the code into an
empty database: users, environments, variables, secrets and the service all come
back, the service answering through the proxy again.
"""

import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import docker
import psycopg
import pytest
import requests
from django.conf import settings
from django.db import connection

from deployments import actions, variables
from deployments.models import Deployment
from ingress.names import service_url
from portal import backup, restore
from tests.conftest import APPS, ROOT, WORKER_ENV, clean_engine, database_url, log_text, wait_for
from tests.test_ingress import Client
from tests.waiting import eventually

PAGE = (APPS / "static-site" / "index.html").read_text()


def fresh_clone(target: Path) -> Path:
    """The code as a new checkout has it: tracked files (and new ones not ignored), no var/."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, names):
        source = ROOT / name
        if source.is_file() and not name.startswith("var/"):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def platform_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """The settings of a `make run` machine: the keys come from var/local.env only."""
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ENCRYPTION_KEYS", "M3O_VAR_DIR"}}
    env["M3O_ETC_DIR"] = str(tmp_path / "no-etc")  # never this machine's production settings
    env.update(values)
    return env


def run_python(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def light_venv(checkout: Path) -> Path:
    """A virtualenv of the checkout's own that sees this one's packages, so nothing installs into ours."""
    python = ROOT / ".venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(checkout / ".venv")], check=True)
    site = next((checkout / ".venv" / "lib").glob("python3*/site-packages"))
    ours = sysconfig.get_paths()["purelib"]
    (site / "m3o-tests-parent.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return checkout / ".venv" / "bin" / "python"


class CheckoutWorker:
    """A `celery worker` running the code of another checkout, reconciling as it starts."""

    def __init__(self, checkout: Path, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.process = subprocess.Popen(
            [
                str(checkout / ".venv" / "bin" / "python"), "-m", "celery", "-A", "portal", "worker",
                "-Q", env["DEPLOY_QUEUE"], "--concurrency", "1", "-n", f"{env['DEPLOY_QUEUE']}@%h",
                "--without-mingle", "--without-gossip", "--loglevel", "INFO",
            ],
            cwd=checkout, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def wait_for_reconcile(self) -> None:
        eventually(
            lambda: (
                b"reconcile_all" in self.log_path.read_bytes() and b"succeeded" in self.log_path.read_bytes()
            ),
            timeout=90,
            interval=0.2,
            message=lambda: (
                f"the worker never finished its reconcile pass:\n{self.log_path.read_text()[-3000:]}"
            ),
        )

    def stop(self) -> None:
        """SIGTERM, as a service manager sends it: a warm shutdown."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def restored_database():
    """An empty database on the same server, dropped afterwards."""
    db = connection.settings_dict
    name = f"{db['NAME']}_restored"[:63]
    params = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "password": db["PASSWORD"] or None}
    params = {k: v for k, v in params.items() if v}

    def drop():
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop()
    url = database_url().rsplit("/", 1)[0] + f"/{name}"
    yield url
    drop()


@pytest.mark.docker
def test_an_upgrade_drops_no_request_and_a_wiped_machine_comes_back_from_its_backup(
    worker, alice, make_repo, localhost_names, tmp_path, restored_database
):
    # One deployment for both, as each costs a build.
    repo = make_repo("static-site")  # the smallest image to save and load
    deployment = wait_for(actions.deploy_repository(alice, name="web", repository_url=repo.url))
    assert deployment.state == Deployment.State.RUNNING, log_text(deployment)
    upgrade_while_a_client_asks(deployment, tmp_path / "upgrade")
    wipe_and_restore(deployment, tmp_path / "restore", restored_database)


def start_from_an_older_commit(checkout: Path) -> None:
    """Put the checkout on the commit before HEAD, or, in a shallow clone (CI may clone with
    depth 1), on a commit made here that differs from HEAD by one README line."""
    try:
        git("checkout", "--quiet", "--detach", "HEAD~1", cwd=checkout)
    except subprocess.CalledProcessError:
        readme = checkout / "README.md"
        readme.write_text(readme.read_text() + "\nAn older version.\n")
        git("-c", "user.name=test", "-c", "user.email=test@localhost", "commit", "--quiet",
            "-am", "An older version", cwd=checkout)  # fmt: skip


def upgrade_while_a_client_asks(deployment: Deployment, tmp_path: Path) -> None:
    """scripts/upgrade.sh brings a checkout of the previous commit to this one; its worker restarts."""
    tmp_path.mkdir()
    current = git("rev-parse", "HEAD", cwd=ROOT)
    checkout = tmp_path / "server"
    git("clone", "--quiet", str(ROOT), str(checkout), cwd=tmp_path)
    start_from_an_older_commit(checkout)
    light_venv(checkout)
    if (ROOT / "var" / "static").is_dir():  # a server has the static files of the version it runs
        shutil.copytree(ROOT / "var" / "static", checkout / "var" / "static")
    env = {
        **os.environ,
        **WORKER_ENV,
        "RECONCILE_AT_START": "1",
        "DATABASE_URL": database_url(),
        "DEPLOY_QUEUE": "upgrade",
        "M3O_ETC_DIR": str(tmp_path / "no-etc"),  # never this machine's production settings
        "M3O_VAR_DIR": str(checkout / "var"),
    }
    client = Client(service_url(deployment.service))
    client.start()
    try:
        client.wait_for_answer(PAGE)
        upgrade = subprocess.run(
            [str(ROOT / "scripts" / "upgrade.sh"), current],
            env={**env, "M3O_CHECKOUT": str(checkout), "UPGRADE_BACKUP": "0"},
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
        assert git("rev-parse", "HEAD", cwd=checkout) == current
        assert "==> Migrations" in upgrade.stdout
        # The restart: a worker on the new code, whose first act is a reconcile pass.
        new = CheckoutWorker(checkout, env, tmp_path / "new-worker.log")
        try:
            new.wait_for_reconcile()
            client.wait_for_more_answers(50)
        finally:
            new.stop()
    finally:
        client.stopped.set()
        client.join(timeout=20)
    assert client.failures == []
    assert set(client.answers) == {PAGE}
    # The app's instance was never replaced: the new code's reconciler found it as it should be.
    assert Deployment.objects.get(pk=deployment.pk).instance_id == deployment.instance_id


def wipe_and_restore(deployment: Deployment, tmp_path: Path, restored_database: str) -> None:
    """Back up; wipe the engine, var/ and uploads; restore into a fresh checkout and an empty database."""
    tmp_path.mkdir()
    service = deployment.service
    # The instance started again at restore gets the variables as they are then.
    variables.set_variable(service.environment, "GREETING", "hello-from-a-secret", secret=True)
    variables.set_variable(service, "PLAIN", "a plain value")
    upload = Path(settings.UPLOADS_DIR) / "probe" / "file.txt"
    upload.parent.mkdir(parents=True, exist_ok=True)
    upload.write_text("uploaded before the backup")

    old_var = tmp_path / "old-var"
    old_var.mkdir()
    keys = ",".join(settings.ENCRYPTION_KEYS)
    (old_var / "local.env").write_text(f"SECRET_KEY={settings.SECRET_KEY}\nENCRYPTION_KEYS={keys}\n")
    archive = tmp_path / "backups" / "m3o.tar"
    made = run_python(
        ["-m", "portal.backup", "--out", str(archive)],
        cwd=ROOT,
        env=platform_env(tmp_path, M3O_VAR_DIR=str(old_var), DATABASE_URL=database_url()),
    )
    assert made.returncode == 0, made.stderr
    assert f"Backup written to {archive}" in made.stdout
    assert "1 users, 1 environments, 1 services, 1 running deployments, 2 variables" in made.stdout
    assert "images of the running deployments: 1" in made.stdout
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        assert tar.getnames()[0] == "manifest.json"
        members = set(tar.getnames())
    assert {"settings/local.env", "database/postgres.dump", "uploads/probe/file.txt"} <= members
    assert "images/images.tar.gz" in members

    # The machine is wiped: no container, network or image of the platform, no var/, no uploads.
    clean_engine()
    shutil.rmtree(old_var)
    upload.unlink()
    assert requests.get(service_url(service), timeout=10).status_code != 200

    clone = fresh_clone(tmp_path / "clone")
    env = platform_env(tmp_path, DATABASE_URL=restored_database)
    for name in ("UPLOADS_DIR", "WORKSPACE_DIR"):
        env.pop(name, None)  # this checkout's own var/
    restored = run_python(["-m", "portal.restore", str(archive)], cwd=clone, env=env)
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "started again by the reconciler: 1 deployments" in restored.stdout, restored.stdout

    assert stat.S_IMODE((clone / "var" / "local.env").stat().st_mode) == 0o600
    assert (clone / "var" / "uploads" / "probe" / "file.txt").read_text() == "uploaded before the backup"
    eventually(
        lambda: requests.get(service_url(service), timeout=10).text == PAGE,
        timeout=30,
        message="the restored service does not answer through the proxy",
    )
    (container,) = docker.from_env().containers.list(
        filters={
            "label": [f"org.m3o.platform={settings.PLATFORM_NAME}", f"org.m3o.deployment={deployment.pk}"]
        }
    )
    # Started by the restore's reconciler, which decrypted them with the keys it restored.
    assert {"GREETING=hello-from-a-secret", "PLAIN=a plain value"} <= set(container.attrs["Config"]["Env"])
    with psycopg.connect(restored_database) as conn:
        rows = {
            table: sorted(row[0] for row in conn.execute(f"SELECT {column} FROM {table}"))  # noqa: S608
            for table, column in [
                ("auth_user", "username"),
                ("environments_environment", "name"),
                ("deployments_service", "name"),
                ("deployments_variable", "key"),
            ]
        }
        stored = conn.execute(
            "SELECT encrypted_value FROM deployments_variable WHERE key = 'GREETING'"
        ).fetchone()
    assert rows == {
        "auth_user": ["alice"],
        "environments_environment": ["production"],
        "deployments_service": ["web"],
        "deployments_variable": ["GREETING", "PLAIN"],
    }
    assert "hello-from-a-secret" not in str(stored[0])  # still encrypted at rest

    # A second restore would overwrite a platform in use: refused unless FORCE=1.
    again = run_python(["-m", "portal.restore", str(archive)], cwd=clone, env=env)
    assert again.returncode == 1
    assert "already has users" in again.stderr
    assert "FORCE=1" in again.stderr


def _archive(tmp_path: Path, files: dict[str, bytes]) -> Path:
    path = tmp_path / "crafted.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _manifest(**checksums: str) -> bytes:
    return json.dumps({"format": backup.FORMAT, "checksums": checksums}).encode()


def test_a_crafted_archive_writes_nothing_outside_and_is_refused(tmp_path):
    stage = tmp_path / "stage"
    stage.mkdir()
    escaping = _archive(tmp_path, {"manifest.json": _manifest(), "../../outside.txt": b"x"})
    with pytest.raises(backup.BackupError, match="not a readable backup"):
        restore._unpack(escaping, stage)
    assert not (tmp_path / "outside.txt").exists()
    assert not (tmp_path.parent / "outside.txt").exists()

    damaged = _archive(
        tmp_path,
        {"manifest.json": _manifest(**{"database/db.sqlite3": "0" * 64}), "database/db.sqlite3": b"y"},
    )
    with pytest.raises(backup.BackupError, match="damaged"):
        restore._unpack(damaged, tmp_path / "stage2")
    with pytest.raises(backup.BackupError, match="not written by `make backup`"):
        restore._unpack(_archive(tmp_path, {"notes.txt": b"z"}), tmp_path / "stage3")
