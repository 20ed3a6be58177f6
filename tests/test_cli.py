"""The real `m3o` command, as a subprocess, against a live test server with a real worker and Docker."""

import calendar
import os
import queue
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from api import tokens, uploads
from deployments.models import Deployment, Service
from tests import own
from tests.conftest import APPS, ROOT
from tests.waiting import eventually

pytestmark = [pytest.mark.docker]


def m3o_command() -> list[str]:
    installed = Path(sys.executable).parent / "m3o"  # what `pip install -e .` put there
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "cli.main"]


class M3O:
    def __init__(self, home: Path, url: str) -> None:
        self.url = url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("M3O_")}
        self.env["XDG_CONFIG_HOME"] = str(home)

    def __call__(self, *args: str, cwd: Path = ROOT, timeout: float = 300, **env: str):
        return subprocess.run(
            [*m3o_command(), *args], cwd=cwd, env={**self.env, **env}, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    def ok(self, *args: str, **kwargs) -> str:
        result = self(*args, **kwargs)
        assert result.returncode == 0, f"m3o {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def at_terminal(self, *args: str, answer: str):
        """The command with a terminal for its input, where `answer` is already typed."""
        typing, terminal = os.openpty()
        try:
            os.write(typing, answer.encode())
            return subprocess.run(
                [*m3o_command(), *args], cwd=ROOT, env=self.env, stdin=terminal, capture_output=True,
                text=True, timeout=60, check=False,
            )  # fmt: skip
        finally:
            os.close(typing)
            os.close(terminal)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*m3o_command(), *args], cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip


@pytest.fixture
def m3o(live_server, worker, alice, tmp_path, settings):
    settings.UPLOADS_DIR = tmp_path / "uploads"
    cli = M3O(tmp_path / "config", live_server.url)
    _, raw = tokens.create_token(alice, "cli")
    cli.ok("login", "--url", live_server.url, "--token", raw)
    return cli


def live(name: str, environment: str) -> Deployment:
    service = Service.objects.select_related("live_deployment").get(name=name, environment__name=environment)
    assert service.live_deployment.state == Deployment.State.RUNNING
    return service.live_deployment


def test_login_keeps_the_token_to_the_user_alone(live_server, alice, tmp_path):
    cli = M3O(tmp_path / "config", live_server.url)
    _, raw = tokens.create_token(alice, "cli")
    out = cli.ok("login", "--url", live_server.url, "--token", raw)
    assert out.strip() == f"Logged in to {live_server.url} as alice@example.com."
    config = tmp_path / "config" / "m3o" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert "alice@example.com" in cli.ok("whoami")
    cli.ok("logout")
    assert "Not logged in" in cli("whoami").stderr
    assert "alice" in cli.ok("whoami", M3O_TOKEN=raw, M3O_URL=live_server.url)


def test_errors_are_one_clear_line(live_server, alice, tmp_path):
    cli = M3O(tmp_path / "config", live_server.url)
    unreachable = cli("services", M3O_URL="http://127.0.0.1:9", M3O_TOKEN="m3o_x")
    assert unreachable.returncode == 1
    assert unreachable.stderr.strip() == "Error: Cannot reach the M3O server at http://127.0.0.1:9."
    refused = cli("services", M3O_URL=live_server.url, M3O_TOKEN="m3o_made-up")
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "token is not valid" in refused.stderr
    assert "Traceback" not in unreachable.stderr + refused.stderr


def test_env_create_run_a_repository_rollback_and_delete(m3o, make_repo):
    assert "Environment staging created." in m3o.ok("env", "create", "staging")
    m3o.ok("env", "use", "staging")
    assert "* " in m3o.ok("env", "list")
    repo = make_repo("static-site")

    first = m3o("run", repo.url, "--name", "site")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "==> site is running at http://" in first.stdout
    assert "hello from static-site" in requests.get(live("site", "staging").url, timeout=5).text

    repo.commit("v2", {"index.html": "<!doctype html><h1>version two</h1>"})
    m3o.ok("run", repo.url, "--name", "site")
    assert "version two" in requests.get(live("site", "staging").url, timeout=5).text

    # Without a terminal nobody can answer: it neither waits nor goes ahead unless --yes.
    unasked = m3o("rollback", "site")
    assert unasked.returncode == 1
    assert "Roll site in staging back to the deployment before the live one? Nothing" in unasked.stderr
    assert "add --yes" in unasked.stderr
    declined = m3o.at_terminal("rollback", "site", answer="n\n")
    assert declined.returncode == 1
    assert "back to the deployment before the live one? [y/N]" in declined.stderr
    assert Deployment.objects.filter(service__name="site").count() == 2
    back = m3o.ok("rollback", "site", "--yes")
    assert "is running at" in back
    assert "hello from static-site" in requests.get(live("site", "staging").url, timeout=5).text
    listed = m3o.ok("deployments", "site")
    assert listed.count("running") == 1
    assert listed.count("superseded") == 2

    changed = m3o.ok("settings", "site", "--build", "echo built", "--release", "true", "--health-check", "/x")
    assert "Build command:       echo built" in changed
    assert "Pre-deploy command:  true" in changed
    assert "Health check path:   /x" in changed
    refused = m3o("settings", "site", "--branch", "--upload-pack=id")
    assert refused.returncode == 1
    assert "not a valid branch name" in refused.stderr + refused.stdout

    # Another repository under the same name is refused until --replace says so.
    replacing = m3o("run", make_repo("ticker").url, "--name", "site")
    assert replacing.returncode == 1
    assert "already has a service called site" in replacing.stderr
    assert "Run it again with --replace to replace it." in replacing.stderr
    assert Service.objects.get(name="site").repository_url == repo.url

    # Stop asks for the name at a terminal; a wrong one stops nothing.
    mistyped = m3o.at_terminal("stop", "site", answer="sit\n")
    assert mistyped.returncode == 1
    assert "Stop site in staging? It stops answering until started.\nType site to confirm" in mistyped.stderr
    assert "You typed 'sit', not site: nothing done." in mistyped.stderr
    assert live("site", "staging")
    assert m3o.at_terminal("stop", "site", answer="site\n").stdout.strip() == "site stopped."
    service = Service.objects.select_related("live_deployment").get(name="site")
    assert service.live_deployment.state == Deployment.State.STOPPED
    assert "add --yes" in m3o("delete", "site").stderr

    service_id = Service.objects.get(name="site").pk
    assert m3o.ok("delete", "site", "--yes").strip() == "site deleted."
    assert not Service.objects.filter(pk=service_id).exists()
    # The worker removes the containers after the delete is committed.
    eventually(
        lambda: own.containers(service=service_id) == [],
        timeout=60,
        message="the deleted service's containers are still there",
    )
    assert "No services yet." in m3o.ok("status")


def test_a_failed_deployment_exits_non_zero_with_the_reason(m3o, make_repo):
    result = m3o("run", make_repo("no-language").url, "--name", "broken")
    assert result.returncode == 1
    # The reason is the pipeline's own words, on the line that says it failed.
    assert "did not go live: Don't know how to build this: looked for a Dockerfile" in result.stdout


def test_run_dot_deploys_a_local_folder_without_what_gitignore_leaves_out(m3o, tmp_path):
    folder = tmp_path / "my-site"
    shutil.copytree(APPS / "static-site", folder)
    (folder / ".gitignore").write_text("secret.txt\nbuild/\n")
    (folder / "secret.txt").write_text("do not upload")
    (folder / "build").mkdir()
    (folder / "build" / "big.bin").write_bytes(b"x" * 1000)

    result = m3o("run", ".", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Uploading 2 files" in result.stdout
    deployment = live("my-site", "production")
    assert "hello from static-site" in requests.get(deployment.url, timeout=5).text
    repository = uploads.repository_path(deployment.service.environment_id, "my-site")
    files = subprocess.run(
        ["git", f"--git-dir={repository}", "ls-tree", "-r", "--name-only", "main"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert sorted(files) == [".gitignore", "index.html"]
    status = m3o.ok("status", "my-site")
    assert status.startswith("my-site in production: running")
    assert "  address: my-site-production.localhost\n" in status


def _lines_of(process: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wait_for_line(lines: queue.Queue, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"no line with {text!r} in:\n{''.join(seen)}")


def test_logs_follow_shows_lines_printed_after_it_started(m3o, make_repo):
    m3o.ok("run", make_repo("ticker").url, "--name", "ticker")
    url = live("ticker", "production").url
    follower = m3o.popen("logs", "ticker", "-f", "--tail", "5")
    try:
        lines = _lines_of(follower)
        _wait_for_line(lines, "tick", timeout=30)
        requests.get(url + "printed-after-logs-started", timeout=5)
        _wait_for_line(lines, "request /printed-after-logs-started", timeout=30)
        assert "tick" in m3o.ok("logs", "ticker", "--tail", "50", "--grep", "TICK")
        asked_at = time.time()
        recent = m3o.ok("logs", "ticker", "--since", "1m", "--grep", "TICK").splitlines()
        assert recent
        assert all("tick" in line for line in recent)
        # Each line starts with its UTC time to the second: none from before that minute.
        printed = [calendar.timegm(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) for line in recent]
        assert min(printed) >= int(asked_at) - 61
        assert "==> " in m3o.ok("logs", "ticker", "--build")
    finally:
        os.killpg(follower.pid, 9)
        follower.wait()


def test_the_readme_shows_the_cli_quick_start_in_five_lines_or_fewer():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("CLI quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = block.strip().splitlines()
    assert 1 < len(commands) <= 5
    assert commands[0].startswith("pipx install http://127.0.0.1:8000/cli/m3o-")
    assert commands[1].startswith("m3o login --url http://127.0.0.1:8000 ")
    assert any(line.startswith("m3o run .") for line in commands)
