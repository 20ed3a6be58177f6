"""Every `manage.py` command in the README runs as written beside `make run`.

The commands get no settings in their environment but where the services are
(Redis, the platform's name): the secret key and DEBUG come from the
`var/local.env` that `make run` writes with scripts/local-settings.sh, as they
would in a fresh shell next to `make run`. The database is the test run's own
(already migrated; migrating a new SQLite file takes minutes on a busy machine),
so the file's SQLite path is checked on its own.
"""

import os
import re
import shlex
import subprocess
import sys
import uuid

import pytest
from django.conf import settings

from tests.conftest import ROOT, database_url
from tests.waiting import eventually


def readme_manage_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^\s*```sh\n(.*?)^\s*```", text, flags=re.MULTILINE | re.DOTALL)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip().startswith(".venv/bin/python manage.py ")
    ]


@pytest.fixture
def beside_make_run(tmp_path):
    """A shell's environment next to `make run`: its var/ folder, no settings of the test run."""
    var = tmp_path / "var"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "M3O_VAR_DIR": str(var),
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_URL": settings.CACHES["default"]["LOCATION"],
        "PLATFORM_NAME": settings.PLATFORM_NAME,
        "WORKSPACE_DIR": str(tmp_path / "workspace"),
        "DEPLOY_QUEUE": f"readme-{uuid.uuid4().hex[:8]}",
        "CLONE_TIMEOUT": "20",
    }
    made = subprocess.run(
        ["scripts/local-settings.sh"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert "Local settings written" in made.stdout
    return env


def run(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_local_settings_are_written_once_with_a_secret_of_their_own(beside_make_run):
    path = ROOT.joinpath(beside_make_run["M3O_VAR_DIR"], "local.env")
    first = path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    key = re.search(r"^SECRET_KEY=(.+)$", first, flags=re.MULTILINE).group(1)
    assert len(key) >= 50
    assert "dev-only" not in key
    assert "DEBUG=1" in first
    # Running `make run` again keeps the key: sessions and encrypted variables survive.
    run(beside_make_run, "scripts/local-settings.sh")
    assert path.read_text() == first
    # The environment wins over the file, as production needs.
    shown = run(
        {**beside_make_run, "DEBUG": "0", "SECRET_KEY": "from-the-environment"},
        sys.executable, "manage.py", "shell", "-c",
        "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY)",
    )  # fmt: skip
    assert shown.stdout.splitlines()[-1].split() == ["False", "from-the-environment"], shown.stderr
    # Without them, the file's: debug mode, its key and the SQLite file in var/.
    shown = run(
        beside_make_run, sys.executable, "manage.py", "shell", "-c",
        "from django.conf import settings as s; print(s.DEBUG, s.SECRET_KEY, s.DATABASES['default']['NAME'])",
    )  # fmt: skip
    var = beside_make_run["M3O_VAR_DIR"]
    assert shown.stdout.splitlines()[-1].split() == ["True", key, f"{var}/db.sqlite3"], shown.stderr


def test_every_manage_py_command_in_the_readme_runs_as_written(beside_make_run, transactional_db, tmp_path):
    env = {**beside_make_run, "DATABASE_URL": database_url()}
    commands = readme_manage_commands()
    assert any(" deploy " in c for c in commands)
    assert any(" create_token " in c for c in commands)
    # What `make run` does before serving, after migrating: the first user.
    done = run(env, ".venv/bin/python", "manage.py", "ensure_admin")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "admin@localhost" in done.stdout
    worker_log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [".venv/bin/celery", "-A", "portal", "worker", "-Q", env["DEPLOY_QUEUE"], "--concurrency", "1",
         "--loglevel", "INFO", "--without-mingle", "--without-gossip", "-n", f"{env['DEPLOY_QUEUE']}@%h"],
        cwd=ROOT, env=env, stdout=worker_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        eventually(lambda: b" ready." in worker_log.read_bytes() or worker.poll() is not None, timeout=60)
        assert worker.poll() is None, worker_log.read_text()
        for command in commands:
            done = run(env, *shlex.split(command))
            output = done.stdout + done.stderr
            assert "SECRET_KEY" not in output, f"{command}\n{output}"
            assert "Traceback" not in output, f"{command}\n{output}"
            if " create_token " in command:
                assert done.returncode == 0, output
                assert done.stdout.startswith("m3o_")
            elif " deploy " in command:
                # It ran through the worker and came back with the deployment's own reason:
                # the example's repository cannot be cloned (or does not exist).
                queued = re.search(r"^Deployment #(\d+) of web queued\.$", done.stdout, flags=re.MULTILINE)
                assert queued, output
                assert done.returncode == 1, output
                assert f"Deployment #{queued.group(1)} failed" in done.stderr, output
            else:
                assert done.returncode == 0, f"{command}\n{output}"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
