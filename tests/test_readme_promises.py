"""README promises that need no deploy: list pages and their limits, the upload
limit, BEHIND_PROXY, outgoing mail through SMTP and `manage.py deploy`'s arguments."""

import io
import json
import os
import socketserver
import subprocess
import sys
import tarfile
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from api import tokens as api_tokens
from deployments.models import Service
from environments.models import Environment
from tests.conftest import ROOT, database_url
from tests.test_api import api_client


@pytest.mark.django_db
def test_lists_come_in_pages_of_50_and_at_most_500(alice):
    Environment.objects.bulk_create(Environment(owner=alice, name=f"env-{n:03}") for n in range(501))
    client = api_client(alice)
    first = client.get("/api/environments/").json()
    assert (first["count"], len(first["results"])) == (501, 50)
    assert len(client.get("/api/environments/", {"page_size": 500}).json()["results"]) == 500
    capped = client.get("/api/environments/", {"page_size": 10_000}).json()
    assert len(capped["results"]) == 500
    assert client.get(capped["next"]).json()["results"][0]["name"] == "env-500"


@pytest.mark.django_db
def test_an_upload_over_upload_max_mb_is_refused_and_leaves_nothing(alice, settings, tmp_path):
    settings.UPLOAD_MAX_MB = 1
    settings.UPLOADS_DIR = tmp_path / "uploads"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = os.urandom(1_200_000)  # random bytes do not compress
        info = tarfile.TarInfo("index.html")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    archive = SimpleUploadedFile("upload.tar.gz", buffer.getvalue(), content_type="application/gzip")
    answer = api_client(alice).post("/api/services/upload/", {"archive": archive, "name": "web"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "The upload is larger than 1 MB."
    assert not Service.objects.exists()
    assert not settings.UPLOADS_DIR.exists() or not any(settings.UPLOADS_DIR.iterdir())


def _portal(code: str, **env: str) -> str:
    """Run `code` in a fresh portal process with these settings, for settings read at start."""
    full = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "HTTPS", "BEHIND_PROXY"}}
    # The tests' database, made by pytest-django.
    full.update(env, DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="portal.settings")
    result = subprocess.run(
        [sys.executable, "-c", f"import django\ndjango.setup()\n{code}"],
        cwd=ROOT, env=full, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


ASK_BEHIND_A_PROXY = """
from django.test import Client
client = Client()
page = "/accounts/login/"
print(client.get(page, HTTP_X_FORWARDED_PROTO="https").status_code, client.get(page).status_code)
"""


@pytest.mark.django_db
def test_behind_proxy_trusts_x_forwarded_proto(client, settings):
    # HTTPS on: a plain-HTTP request is redirected, unless the proxy in front says it was HTTPS.
    env = {"HTTPS": "true", "BEHIND_PROXY": "1", "ALLOWED_HOSTS": "testserver"}
    assert _portal(ASK_BEHIND_A_PROXY, **env) == "200 301"
    # Without BEHIND_PROXY (these tests' settings) anyone could send the header: it is not trusted.
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 301


class _SMTP(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 to take one message: a fake of the operator's mail server."""

    received: list[str] = []

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 fake ESMTP")
        while line := self.rfile.readline().decode():
            verb = line[:4].upper()
            if verb == "DATA":
                self.reply("354 go on")
                body = []
                while (data := self.rfile.readline().decode()) not in (".\r\n", ""):
                    body.append(data)
                self.received.append("".join(body))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:  # EHLO, HELO, MAIL, RCPT, RSET, NOOP
                self.reply("250 ok")


@pytest.mark.django_db
@pytest.mark.django_db
def test_mail_goes_out_through_smtp_when_email_host_is_set():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTP)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _portal(
            "from django.core.mail import send_mail; "
            "send_mail('Verify your address', 'Follow the link.', None, ['alice@example.com'])",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(server.server_address[1]),
            EMAIL_USE_TLS="false",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert len(_SMTP.received) == 1
    assert "Subject: Verify your address" in _SMTP.received[0]
    assert "To: alice@example.com" in _SMTP.received[0]


@pytest.mark.django_db
def test_manage_py_deploy_takes_branch_path_and_port(alice):
    out = io.StringIO()
    call_command(
        "deploy", "https://example.com/alice/shop.git", "--name", "api", "--env", "staging",
        "--branch", "release-2", "--path", "services/api", "--port", "5000", "--user", "alice", stdout=out,
    )  # fmt: skip
    service = Service.objects.get(name="api")
    assert (service.branch, service.subdirectory, service.port) == ("release-2", "services/api", 5000)
    assert service.environment.name == "staging"
    assert service.deployments.get().branch == "release-2"
    assert out.getvalue().startswith("Deployment #")

    other = "https://example.com/a.git"
    with pytest.raises(CommandError, match="invalid int value: 'http'"):
        call_command("deploy", other, "--name", "x", "--port", "http", "--user", "alice")
    with pytest.raises(CommandError, match="No user 'mallory'"):
        call_command("deploy", other, "--name", "x", "--user", "mallory")
    with pytest.raises(CommandError, match="The subdirectory must be a relative path"):
        call_command("deploy", other, "--name", "x", "--path", "../etc", "--user", "alice")
    assert Service.objects.count() == 1


def test_m3o_env_url_and_token_override_the_config_and_json_is_json(live_server, alice, tmp_path):
    from tests.test_cli import M3O

    _, raw = api_tokens.create_token(alice, "cli")
    m3o = M3O(tmp_path / "config", live_server.url)
    m3o.ok("login", "--url", live_server.url, "--token", raw)
    me = json.loads(m3o.ok("whoami", "--json"))
    assert me == {
        "username": "alice",
        "email": "alice@example.com",
        "url": live_server.url,
        "environment": "production",
    }

    # The environment's variables win over the file: another environment, and a token and
    # server given to a script, with the file's own left as they were.
    m3o.ok("logout")
    me = json.loads(m3o.ok("whoami", "--json", M3O_ENV="staging", M3O_TOKEN=raw, M3O_URL=live_server.url))
    assert (me["username"], me["environment"]) == ("alice", "staging")
    refused = m3o("whoami", "--json")
    assert refused.returncode == 1
