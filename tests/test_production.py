"""Production mode, started as an operator starts it: `make install`, then `make serve`.

One installation for the module, on ports, a database, a Redis, folders and a
PLATFORM_NAME of its own, so nothing here meets `make run` or another test run:
the web process as the unprivileged user, the worker and beat, the portal's Caddy
serving a `.localhost` name with its local CA, all under supervisord (this machine
has no systemd as PID 1; the units are checked with systemd-analyze).
"""

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from tests.conftest import APPS, ROOT
from tests.own import clean_engine
from tests.waiting import eventually

pytestmark = pytest.mark.docker

USER = "m3o"
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Production:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.etc = base / "etc"
        self.var = base / "var"
        self.platform = f"{settings.PLATFORM_NAME}-prod"
        self.domain = f"{self.platform}-portal.localhost"
        self.ports = {name: free_port() for name in ("web", "http", "https", "redis", "apps", "apps_tls")}
        self.origin = f"https://{self.domain}:{self.ports['https']}"
        self.redis: subprocess.Popen | None = None
        self.install_output = ""

    @property
    def ctl_env(self) -> dict[str, str]:
        return {**BASE_ENV, "M3O_ETC_DIR": str(self.etc)}

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.ports["redis"]),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        eventually(
            lambda: (
                subprocess.run(
                    ["redis-cli", "-p", str(self.ports["redis"]), "ping"], capture_output=True
                ).returncode
                == 0
            ),
            timeout=20,
        )

    def stop_redis(self) -> None:
        self.redis.terminate()
        self.redis.wait(timeout=20)

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """manage.py as the operator runs it on the server: with the settings file."""
        return subprocess.run(
            [str(ROOT / "scripts" / "m3o-process"), "manage", *args],
            env=self.ctl_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=check,
        )

    def supervisor_pid(self, name: str) -> int:
        out = subprocess.run(
            ["supervisorctl", "-c", str(self.etc / "supervisord.conf"), "pid", name],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        return int(out) if out.isdigit() else 0

    def session(self) -> requests.Session:
        """HTTPS to the portal, trusting only the portal proxy's local CA."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.root_certificate)
        return session

    @property
    def root_certificate(self) -> Path:
        return self.var / "portal-proxy" / "storage" / "pki" / "authorities" / "local" / "root.crt"


def _database() -> dict:
    """Where the test database is, and its name as the server knows it."""
    db = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        name = cursor.fetchone()[0]
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": str(db["PORT"] or 5432),
        "user": db["USER"] or "postgres",
        "name": name,
    }


def _psql(sql: str, database: str = "postgres") -> None:
    db = connection.settings_dict
    server = ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"] or "postgres"]
    command = ["psql", "-q", *server, "-d", database, "-c", sql]
    subprocess.run(command, check=True, timeout=60)


@pytest.fixture(scope="module")
def production(django_db_setup, django_db_blocker):
    if os.geteuid() != 0:
        pytest.fail("production mode is installed as root: run the tests as root")
    # Readable by the unprivileged web user, unlike pytest's own temporary folders.
    base = Path(tempfile.mkdtemp(prefix="m3o-production-"))
    base.chmod(0o755)
    prod = Production(base)
    with django_db_blocker.unblock():
        db = _database()
    prod_db = f"{db['name']}_prod"[:63]
    try:
        prod.start_redis()
        _psql(f'drop database if exists "{prod_db}"')
        _psql(f'create database "{prod_db}"')
        # A copy of the test database, already migrated: migrating from nothing takes
        # minutes on this machine (djstripe's history); install migrates what is left.
        dump = subprocess.Popen(
            ["pg_dump", "-h", db["host"], "-p", db["port"], "-U", db["user"], db["name"]],
            stdout=subprocess.PIPE,
        )
        subprocess.run(
            ["psql", "-q", "-h", db["host"], "-p", db["port"], "-U", db["user"], prod_db],
            stdin=dump.stdout,
            check=True,
            capture_output=True,
            timeout=120,
        )
        assert dump.wait(timeout=60) == 0
        _psql("truncate auth_user cascade", database=prod_db)  # a fresh server has no users
        install_env = {
            **prod.ctl_env,
            "M3O_VAR_DIR": str(prod.var),
            "DATABASE_URL": f"postgres://{db['user']}@{db['host']}:{db['port']}/{prod_db}",
            "REDIS_URL": f"redis://127.0.0.1:{prod.ports['redis']}/0",
            "CACHE_URL": f"redis://127.0.0.1:{prod.ports['redis']}/1",
            "PLATFORM_NAME": prod.platform,
            "PORTAL_DOMAIN": prod.domain,
            "PORTAL_HTTP_PORT": str(prod.ports["http"]),
            "PORTAL_HTTPS_PORT": str(prod.ports["https"]),
            "WEB_BIND": f"127.0.0.1:{prod.ports['web']}",
            "WEB_WORKERS": "1",
            "INGRESS_HTTP_PORT": str(prod.ports["apps"]),
            "INGRESS_HTTPS_PORT": str(prod.ports["apps_tls"]),
            "INGRESS_ADMIN_ADDRESS": f"127.0.0.1:{free_port()}",
            "INGRESS_CONTROL_ADDRESS": f"127.0.0.1:{free_port()}",
            "INGRESS_CHALLENGE_PORT": str(free_port()),
            "ALLOW_LOCAL_REPOSITORIES": "1",  # the test's repository is a local folder
        }
        install = subprocess.run(
            ["make", "--no-print-directory", "install"],
            cwd=ROOT,
            env=install_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        prod.install_output = install.stdout + install.stderr
        assert install.returncode == 0, prod.install_output
        with (prod.etc / "m3o.env").open("a") as file:
            file.write("WORKER_HEARTBEAT_INTERVAL=2\n")  # healthz sees a worker come and go quickly
        serve = subprocess.run(
            ["make", "--no-print-directory", "serve"],
            cwd=ROOT,
            env=prod.ctl_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert serve.returncode == 0, serve.stdout + serve.stderr + _logs(prod)
        assert f"Portal: {prod.origin}/" in serve.stdout
        # The first user, as on a fresh server (its password goes to var/admin-password).
        prod.manage("ensure_admin")
        yield prod
    finally:
        subprocess.run(
            ["make", "--no-print-directory", "stop"],
            cwd=ROOT,
            env=prod.ctl_env,
            capture_output=True,
            timeout=120,
        )
        for pid_file in (prod.var / "ingress" / "nginx.pid", prod.var / "ingress" / "caddy.pid"):
            if pid_file.exists():
                with contextlib.suppress(ValueError, ProcessLookupError):
                    os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        if prod.redis and prod.redis.poll() is None:
            prod.stop_redis()
        clean_engine(prod.platform)
        _psql(f'drop database if exists "{prod_db}" with (force)')
        shutil.rmtree(base, ignore_errors=True)


def _logs(prod: Production) -> str:
    return "".join(
        f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((prod.var / "log").glob("*.log"))
    )


def test_install_writes_the_keys_once_into_a_root_only_file(production):
    env_file = production.etc / "m3o.env"
    stat = env_file.stat()
    assert (stat.st_uid, stat.st_mode & 0o777) == (0, 0o600)
    text = env_file.read_text()
    secret_key = re.search(r"^SECRET_KEY=(.+)$", text, re.M).group(1)
    assert "DEBUG=0" in text.splitlines()
    assert re.search(r"^ENCRYPTION_KEYS=\S{44}$", text, re.M)
    assert secret_key in production.install_output
    assert "WARNING: back this file up" in production.install_output


def test_the_portal_answers_over_https_with_the_proxys_local_ca(production, localhost_names):
    session = production.session()
    page = session.get(f"{production.origin}/accounts/login/", timeout=30)
    assert page.status_code == 200
    assert "Strict-Transport-Security" in page.headers
    # Without that CA the certificate is not trusted.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{production.origin}/accounts/login/", timeout=30)
    # Plain HTTP is sent to HTTPS, port and path kept.
    plain = session.get(
        f"http://{production.domain}:{production.ports['http']}/accounts/login/?x=1",
        allow_redirects=False,
        timeout=30,
    )
    assert plain.status_code in {301, 308}
    assert plain.headers["Location"] == f"{production.origin}/accounts/login/?x=1"
    # DEBUG is off: an unknown page is a plain 404, no debug page naming the URL patterns.
    missing = session.get(f"{production.origin}/no-such-page-here/", timeout=30)
    assert missing.status_code == 404
    assert "URLconf" not in missing.text
    # The web process trusts that one name only.
    direct = requests.get(
        f"http://127.0.0.1:{production.ports['web']}/accounts/login/",
        headers={"Host": "evil.example"},
        timeout=30,
    )
    assert direct.status_code == 400


def test_signing_in_over_https_passes_csrf_and_sets_secure_cookies(production, localhost_names):
    password = (production.var / "admin-password").read_text().strip()
    session = production.session()
    page = session.get(f"{production.origin}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{production.origin}/accounts/login/",
        data={"csrfmiddlewaretoken": token, "login": "admin@localhost", "password": password},
        headers={"Referer": f"{production.origin}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[:2000]
    assert all(cookie.secure for cookie in session.cookies)
    whoami = session.get(f"{production.origin}/api/whoami/", timeout=30)
    assert whoami.status_code == 200, _logs(production)
    assert "admin@localhost" in whoami.text


def test_the_web_process_runs_unprivileged_without_the_engine(production):
    web_master = production.supervisor_pid("web")
    status = Path(f"/proc/{web_master}/status").read_text()
    uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
    groups = {int(g) for g in re.search(r"^Groups:(.*)$", status, re.M).group(1).split()}
    assert uid == pwd.getpwnam(USER).pw_uid != 0
    docker_gid = os.stat("/var/run/docker.sock").st_gid
    assert docker_gid not in groups
    # As that user, the engine's socket is closed.
    probe = "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/var/run/docker.sock')"
    result = subprocess.run(
        ["setpriv", "--reuid", USER, "--regid", USER, "--init-groups", "python3", "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "PermissionError" in result.stderr
    # The worker, which drives the engine, is root.
    worker = Path(f"/proc/{production.supervisor_pid('worker')}/status").read_text()
    assert re.search(r"^Uid:\s+0\s", worker, re.M)


def test_a_deploy_works_end_to_end(production):
    repo = production.base / "static-site"
    shutil.copytree(APPS / "static-site", repo)
    git = ["git", "-c", "user.name=Alice", "-c", "user.email=alice@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "First"], cwd=repo, check=True)
    result = production.manage(
        "deploy", f"file://{repo}", "--name", "web", "--wait", "--user", "admin@localhost", check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr + _logs(production)
    address = f"http://127.0.0.1:{production.ports['apps']}/"
    page = requests.get(
        address, headers={"Host": f"web-production.localhost:{production.ports['apps']}"}, timeout=30
    )
    assert page.status_code == 200, page.text[:500]
    assert "hello from static-site" in page.text


def test_a_killed_worker_is_started_again_by_the_supervisor(production, localhost_names):
    before = production.supervisor_pid("worker")
    assert before
    os.kill(before, signal.SIGKILL)
    after = eventually(
        lambda: (pid := production.supervisor_pid("worker")) not in {0, before} and pid, timeout=15
    )
    assert Path(f"/proc/{after}").exists()

    # Its heartbeats come back, so health says so.
    def healthy():
        response = production.session().get(f"{production.origin}/healthz", timeout=30)
        return response.status_code == 200 and response

    body = eventually(healthy, timeout=90, interval=1).json()
    assert body["checks"]["workers"]["ok"]


def test_healthz_and_doctor_report_a_stopped_redis(production, localhost_names):
    session = production.session()
    response = eventually(
        lambda: (r := session.get(f"{production.origin}/healthz", timeout=30)).status_code == 200 and r,
        timeout=60,
        interval=1,
    )
    assert response.headers["Content-Type"] == "application/json"
    assert set(response.json()["checks"]) == {"database", "redis", "workers", "engine", "proxies", "disk"}
    production.stop_redis()
    try:
        down = session.get(f"{production.origin}/healthz", timeout=30)
        assert down.status_code == 503
        body = down.json()
        assert body["ok"] is False
        assert not body["checks"]["redis"]["ok"]
        assert f"127.0.0.1:{production.ports['redis']}" in body["checks"]["redis"]["detail"]
        assert body["checks"]["database"]["ok"]
        doctor = production.manage("doctor", check=False)
        assert doctor.returncode == 1
        assert (
            f"PROBLEM  redis: Redis at 127.0.0.1:{production.ports['redis']}/0 does not answer"
            in doctor.stdout
        )
        assert "to fix it: start Redis" in doctor.stdout
        assert "ok       database" in doctor.stdout
    finally:
        production.start_redis()
    # Back: the workers reconnect and beat again.
    eventually(
        lambda: session.get(f"{production.origin}/healthz", timeout=30).status_code == 200,
        timeout=90,
        interval=1,
    )


def test_the_systemd_units_pass_systemd_analyze(production, tmp_path):
    env_file = tmp_path / "m3o.env"
    env_file.write_text("DEBUG=0\n")
    subprocess.run(
        ["scripts/systemd-units.sh", str(tmp_path / "units")],
        cwd=ROOT,
        env={**BASE_ENV, "M3O_ENV_FILE": str(env_file)},
        check=True,
        timeout=30,
    )
    units = sorted(p.name for p in (tmp_path / "units").iterdir())
    assert units == [
        "m3o-beat.service",
        "m3o-portal-proxy.service",
        "m3o-services.service",
        "m3o-web.service",
        "m3o-worker.service",
        "m3o.target",
    ]
    result = subprocess.run(
        ["systemd-analyze", "verify", *units],
        cwd=tmp_path / "units",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "m3o-" not in result.stderr, result.stderr  # no unknown key, no missing program
    for name in ("web", "worker", "beat", "portal-proxy"):
        text = (tmp_path / "units" / f"m3o-{name}.service").read_text()
        assert "Restart=always" in text
        assert "WantedBy=multi-user.target" in text
        assert "StandardOutput=journal" in text
        assert (f"User={USER}" in text) == (name != "worker")


def test_doctor_says_the_workers_cannot_reach_their_engine(db, capsys):
    """The web side judges the engine by the workers' heartbeats alone."""
    from django.core.management import CommandError, call_command

    from deployments.logs import redis_client
    from portal import heartbeat

    for key in redis_client().scan_iter(match=f"{settings.PLATFORM_NAME}:worker-heartbeat:*"):
        redis_client().delete(key)
    record = {"hostname": "w1@box", "at": 0, "engine_ok": False, "engine_error": "connection refused"}
    redis_client().set(f"{settings.PLATFORM_NAME}:worker-heartbeat:w1@box", json.dumps(record), ex=60)
    try:
        with pytest.raises(CommandError, match="engine"):
            call_command("doctor")
        out = capsys.readouterr().out
        assert (
            "PROBLEM  engine: the container engine does not answer 1 worker(s): w1@box: connection refused"
            in out
        )
        assert "to fix it: start the Docker engine" in out
        assert "ok       workers: 1 worker(s) reporting: w1@box" in out
        assert [beat["hostname"] for beat in heartbeat.read_all()] == ["w1@box"]
    finally:
        redis_client().delete(f"{settings.PLATFORM_NAME}:worker-heartbeat:w1@box")
