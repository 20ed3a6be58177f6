"""The `m3o` command as a laptop gets it: the wheel from the portal in a bare virtualenv,
browser sign-in (the device grant), and the same options on every command."""

import shutil
import subprocess
import threading
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner

from api import device, tokens
from api.models import DeviceLogin, Token
from cli.app import cli as m3o_group
from deployments.models import Service
from tests.browser import log_in
from tests.conftest import APPS
from tests.test_cli import M3O


def _bare_venv(path: Path) -> Path:
    # Debian's own Python, not the server's venv: only what the wheel declares gets in.
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(path)], check=True, capture_output=True)
    return path / "bin"


@pytest.fixture
def alice_cli(live_server, worker, alice, tmp_path, settings):
    settings.UPLOADS_DIR = tmp_path / "uploads"
    cli = M3O(tmp_path / "config", live_server.url)
    _, raw = tokens.create_token(alice, "cli")
    cli.ok("login", "--url", live_server.url, "--token", raw)
    return cli


@pytest.mark.docker
def test_the_wheel_from_the_portal_installs_alone_and_deploys(live_server, worker, alice, tmp_path):
    page = requests.get(f"{live_server.url}/cli/", timeout=10)
    assert page.status_code == 200
    wheel_url = f"{live_server.url}/cli/m3o-0.1.0-py3-none-any.whl"
    assert f"pipx install {wheel_url}" in page.text
    wheel = tmp_path / "m3o-0.1.0-py3-none-any.whl"
    answer = requests.get(wheel_url, timeout=300)
    assert answer.status_code == 200
    wheel.write_bytes(answer.content)

    bin_dir = _bare_venv(tmp_path / "laptop")
    installed = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    # The CLI's own dependencies came with it, and nothing of the server did.
    assert (
        subprocess.run([str(bin_dir / "python"), "-c", "import click, requests"], check=False).returncode == 0
    )
    assert subprocess.run([str(bin_dir / "python"), "-c", "import django"], check=False).returncode != 0

    env = {"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}
    version = subprocess.run([str(bin_dir / "m3o"), "--version"], capture_output=True, text=True, env=env)
    assert version.stdout.strip() == "m3o, version 0.1.0"

    _, raw = tokens.create_token(alice, "laptop")
    folder = tmp_path / "site"
    shutil.copytree(APPS / "static-site", folder)

    def m3o(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(bin_dir / "m3o"), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=300
        )

    assert m3o("login", "--url", live_server.url, "--token", raw).returncode == 0
    deployed = m3o("run", ".", "--name", "site")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    service = Service.objects.select_related("live_deployment").get(name="site")
    assert "hello from static-site" in requests.get(service.live_deployment.url, timeout=5).text


def test_the_tokens_page_shows_the_install_command(live_server, page, alice):
    log_in(page, live_server.url, "alice@example.com", "alice-password-1")
    page.goto(f"{live_server.url}/api/tokens/")
    page.get_by_role("link", name="Install the m3o command").click()
    assert page.locator("[data-install]").inner_text() == (
        f"pipx install {live_server.url}/cli/m3o-0.1.0-py3-none-any.whl"
    )


def test_only_the_current_wheel_is_served(client, transactional_db):
    # Through the app itself (the test server's own static-file handler is not what production runs).
    assert client.get("/cli/m3o-9.9.9-py3-none-any.whl").status_code == 404
    for path in ["/cli/..%2Fmanage.py", "/cli/%2e%2e/pyproject.toml", "/cli/pyproject.toml", "/cli/.lock"]:
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert not answer.has_header("Content-Disposition")


# --- Browser sign-in --------------------------------------------------------------------------


def _start_login(cli: M3O, url: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [*cli_command(), "login", "--url", url, "--no-browser"], env=cli.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first = process.stderr.readline()
    assert first.startswith("Open "), first
    return process, first.split()[1]


def cli_command() -> list[str]:
    from tests.test_cli import m3o_command

    return m3o_command()


def test_login_through_the_browser_gives_the_cli_a_working_token(live_server, page, alice, tmp_path):
    cli = M3O(tmp_path / "config", live_server.url)
    process, link = _start_login(cli, live_server.url)
    code = process.stderr.readline().split()[-1].rstrip(".")

    log_in(page, live_server.url, "alice@example.com", "alice-password-1")
    page.goto(link)
    # The page names the device before anything is approved.
    assert page.locator("[data-device-name]").inner_text().startswith("m3o on ")
    assert code in page.content()
    page.get_by_role("button", name="Approve").click()
    assert "Approved" in page.locator("[data-device-result]").inner_text()

    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.strip() == f"Logged in to {live_server.url} as alice@example.com."
    assert "alice@example.com" in cli.ok("whoami")
    assert Token.objects.filter(user=alice).count() == 1

    # The same code cannot be approved again, nor collected again.
    page.goto(link)
    assert "already used" in page.locator("[data-device-error]").inner_text()
    assert Token.objects.filter(user=alice).count() == 1


def test_a_denied_sign_in_ends_the_cli_with_the_reason(live_server, page, alice, tmp_path):
    cli = M3O(tmp_path / "config", live_server.url)
    process, link = _start_login(cli, live_server.url)
    log_in(page, live_server.url, "alice@example.com", "alice-password-1")
    page.goto(link)
    page.get_by_role("button", name="Deny").click()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Error: The sign-in was denied in the browser." in err
    assert not Token.objects.filter(user=alice).exists()


def test_an_unapproved_code_expires_and_the_cli_says_so(live_server, alice, tmp_path, monkeypatch):
    from datetime import timedelta

    monkeypatch.setattr(device, "LIFETIME", timedelta(seconds=2))
    cli = M3O(tmp_path / "config", live_server.url)
    process, _ = _start_login(cli, live_server.url)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "expired" in err
    assert not Token.objects.exists()


def _approved(live_server, user) -> str:
    started = requests.post(f"{live_server.url}/api/device/", json={"client_name": "race"}, timeout=10).json()
    device.approve(user, started["user_code"])
    return started["device_code"]


def test_a_code_collected_at_once_by_many_gives_one_token(live_server, alice):
    code = _approved(live_server, alice)
    answers: list[requests.Response] = []
    barrier = threading.Barrier(8)

    def poll() -> None:
        barrier.wait()
        answers.append(
            requests.post(f"{live_server.url}/api/device/token/", json={"device_code": code}, timeout=30)
        )

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200] + [400] * 7
    assert {a.json().get("error") for a in answers if a.status_code == 400} == {"invalid_grant"}
    assert Token.objects.filter(user=alice).count() == 1


def test_polls_before_approval_wait_and_a_fast_poller_is_told_to_slow_down(live_server):
    started = requests.post(f"{live_server.url}/api/device/", json={}, timeout=10).json()
    assert started["interval"] == 5
    poll = {"device_code": started["device_code"]}
    first = requests.post(f"{live_server.url}/api/device/token/", json=poll, timeout=10)
    assert (first.status_code, first.json()["error"]) == (400, "authorization_pending")
    again = requests.post(f"{live_server.url}/api/device/token/", json=poll, timeout=10)
    assert again.json()["error"] == "slow_down"


@pytest.mark.parametrize(
    "body",
    [{"device_code": "x" * 100_000}, {"device_code": None}, {"device_code": ["a"]}, [], "text", {}],
)
def test_malformed_polls_are_refused_plainly(live_server, body):
    answer = requests.post(f"{live_server.url}/api/device/token/", json=body, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_starting_sign_ins_is_rate_limited_per_address(live_server, transactional_db):
    statuses = [
        requests.post(
            f"{live_server.url}/api/device/", json={"client_name": "x" * 5000}, timeout=10
        ).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [200] * 10
    assert statuses[10:] == [429, 429]
    assert DeviceLogin.objects.count() == 10
    assert {len(name) for name in DeviceLogin.objects.values_list("client_name", flat=True)} == {100}


def test_guessing_codes_is_limited_and_reveals_nothing(client, alice, bob):
    started, _ = device.start("alice's laptop", "10.0.0.1")
    client.force_login(bob)
    guesses = [f"BCDF-GH{a}{b}" for a in "JKLM" for b in "NPQRS"]
    assert started.user_code not in guesses
    wrong = [client.get("/device/", {"code": guess}) for guess in guesses]
    assert {r.status_code for r in wrong} == {400}
    assert all("alice" not in r.content.decode() for r in wrong)
    # Bob is now held back even with the right code.
    assert client.get("/device/", {"code": started.user_code}).status_code == 429


def test_the_device_page_needs_a_signed_in_person(client, transactional_db):
    started, _ = device.start("laptop", "10.0.0.2")
    answer = client.post("/device/", {"code": started.user_code, "answer": "approve"})
    assert answer.status_code == 302
    assert "/accounts/login/" in answer["Location"]
    started.refresh_from_db()
    assert started.approved_at is None


# --- The same options everywhere ----------------------------------------------------------------

# Commands that print something a script may read take --json; those about services take --env.
_NO_JSON = {"completion"}
_NO_ENV = {"login", "logout", "whoami", "completion", "env list", "env create", "env use", "env delete"}


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from _commands(command, f"{full} ")
        else:
            yield full


def test_every_command_help_shows_env_and_json_where_they_apply():
    from cli import deploying, groups  # noqa: F401  (they add their commands to the group)

    runner = CliRunner()
    names = sorted(_commands(m3o_group))
    assert {"open", "completion", "services", "status", "run", "logs", "vars set"} <= set(names)
    for name in names:
        result = runner.invoke(m3o_group, [*name.split(), "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert ("--json" in result.output) == (name not in _NO_JSON), name
        assert ("--env" in result.output) == (name not in _NO_ENV), name


def test_completion_scripts_are_printed_for_each_shell():
    from cli import deploying, groups  # noqa: F401

    for shell, marker in [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete --no-files")]:
        result = CliRunner().invoke(m3o_group, ["completion", shell])
        assert result.exit_code == 0
        assert marker in result.output
        assert "_M3O_COMPLETE" in result.output


def test_the_cli_source_parses_as_python_3_9():
    import ast

    for module in Path(m3o_group.callback.__module__.replace(".", "/")).parent.glob("*.py"):
        source = module.read_text()
        ast.parse(source, feature_version=(3, 9))
        assert "from __future__ import annotations" in source or not source.strip(), module


@pytest.mark.docker
def test_missing_names_list_what_exists_and_open_prints_the_address(alice_cli, make_repo, localhost_names):
    m3o = alice_cli
    m3o.ok("run", make_repo("static-site").url, "--name", "site")
    missing = m3o("status", "sitee")
    assert missing.returncode == 1
    assert "There is no service called sitee in production; the services are: site." in missing.stderr
    no_env = m3o("services", "--env", "stagin")
    assert "There is no environment called stagin; the environments are: production." in no_env.stderr
    address = m3o.ok("open", "site", "--print").strip()
    assert address.startswith("http://site-production.")
    assert "hello from static-site" in requests.get(address, timeout=10).text
    m3o.ok("env", "create", "staging")
    assert "No services yet." in m3o.ok("services", "--env", "staging")
    assert "site" in m3o.ok("services", "--env", "production")
