"""Issue 16's hardening, tried the way an attacker would: secrets copied by readers,
credentials at rest, rate limits behind a proxy, API bursts, the admin site's login."""

import io
import os
import subprocess
import sys

import pytest

from api import tokens
from deployments import actions, variables
from environments.actions import add_member, create_environment
from tests.test_api import api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_production(alice):
    web = actions.deploy_repository(
        alice, name="web", repository_url="https://example.com/alice/web.git"
    ).service
    variables.set_variable(web, "GREETING", "hello")
    variables.set_variable(web, "API_KEY", "alices-s3cret", secret=True)
    return web.environment


@pytest.mark.parametrize(("role", "gets_secret"), [("member", False), ("admin", True)])
def test_a_reader_cannot_copy_secrets_into_an_environment_of_their_own(
    alice, bob, alices_production, role, gets_secret
):
    add_member(alices_production, bob.email, role, alice)
    answer = api_client(bob).post(
        "/api/environments/", {"name": "dev-bob", "copy_from": alices_production.pk}, format="json"
    )
    assert answer.status_code == 201, answer.content
    copied = bob.environments.get(name="dev-bob").services.get()
    expected = {"GREETING": "hello"} | ({"API_KEY": "alices-s3cret"} if gets_secret else {})
    assert variables.resolve(copied) == expected


NASTY = (
    "a\x1b[2J\x1b[H"  # clear the screen, cursor home
    "b\x1b]52;c;aGFja2Vk\x07"  # OSC 52: write the clipboard
    "c\x1b]0;owned\x1b\\"  # retitle the window
    "d\x9b31m\x08\x07\r\x7f"  # 8-bit CSI, backspace, bell, carriage return, DEL
    "e\x1bPq#0\x1b\\f"  # a device control string
)


def test_cli_output_never_contains_escape_sequences_the_server_sent(live_server, alice, tmp_path):
    from tests.test_cli import M3O

    environment = create_environment(alice, name="prod", description=f"desc {NASTY}")
    variables.set_variable(environment, "GREETING", f"value {NASTY}")
    cli = M3O(tmp_path / "config", live_server.url)
    _, raw = tokens.create_token(alice, f"laptop {NASTY}"[:60])
    cli.ok("login", "--url", live_server.url, "--token", raw)
    printed = [
        cli("env", "list"),
        cli("vars", "list", "--env", "prod"),
        cli("vars", "list", "--env", "prod", "--json"),
        cli("env", "create", "x" * 40),  # an error the server words
        cli("audit"),  # the token's creation, its name included
    ]
    everything = "".join(result.stdout + result.stderr for result in printed)
    assert "value abcdef" in everything  # the text stays, the sequences go
    assert "token created laptop" in everything
    for byte in "\x1b\x9b\x07\x08\r\x7f":
        assert byte not in everything


def test_the_stored_github_token_is_not_in_the_database_in_clear(alice, settings):
    from allauth.socialaccount.models import SocialAccount, SocialToken
    from django.core.management import call_command
    from django.db import connection

    from accounts import github

    account = SocialAccount.objects.create(user=alice, provider="github", uid="1")
    SocialToken.objects.create(account=account, token="gho_alices-repo-scope-token")
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM socialaccount_socialtoken")
        stored = cursor.fetchone()[0]
    assert "gho_alices" not in stored
    assert github.user_token(alice) == "gho_alices-repo-scope-token"
    # A new key in front, the stored values re-encrypted, the old key dropped: still readable.
    from cryptography.fernet import Fernet

    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.ENCRYPTION_KEYS]
    call_command("rotate_encryption_keys", stdout=io.StringIO())
    settings.ENCRYPTION_KEYS = settings.ENCRYPTION_KEYS[:1]
    assert github.user_token(alice) == "gho_alices-repo-scope-token"


def test_a_key_ring_that_cannot_decrypt_refuses_to_start(transactional_db, alice):
    from tests.conftest import ROOT, database_url

    variables.set_variable(create_environment(alice, name="prod"), "TOKEN", "x", secret=True)
    env = {**os.environ, "DATABASE_URL": database_url(), "SECRET_KEY": "a-rotated-secret-key"}
    env.pop("ENCRYPTION_KEYS", None)
    started = subprocess.run(
        [sys.executable, "-c", "import portal.asgi"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert started.returncode != 0
    assert "ENCRYPTION_KEYS cannot decrypt a variable stored in the database" in started.stderr


def test_twenty_failed_logins_from_one_client_behind_the_proxy_do_not_lock_out_another(
    client, alice, settings
):
    from django.urls import reverse

    settings.TRUSTED_PROXIES = settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    login = reverse("account_login")
    answers = [
        client.post(
            login,
            {"login": f"guess{i}@example.com", "password": "wrong-password"},
            REMOTE_ADDR="127.0.0.1",  # the proxy
            # The attacker forges a first entry each time; the proxy appends the real address.
            HTTP_X_FORWARDED_FOR=f"10.9.8.{i}, 203.0.113.9",
        ).content.decode()
        for i in range(20)
    ]
    # The attacker is held back, forged entries or not.
    assert "Too many failed login attempts" not in answers[0]
    assert "Too many failed login attempts" in answers[-1]
    signed_in = client.post(
        login,
        {"login": alice.email, "password": "alice-password-1"},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert signed_in.status_code == 302, signed_in.content[:300]


def test_an_api_burst_gets_429_with_retry_after(alice, settings):
    from rest_framework.test import APIClient

    settings.API_RATE_LIMIT = "5/min"
    settings.API_ANON_RATE_LIMIT = "5/min"
    alices = api_client(alice)
    answers = [alices.get("/api/environments/") for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert 0 < int(answers[-1]["Retry-After"]) <= 60
    assert "Request was throttled" in answers[-1].json()["error"]
    # Guessing tokens from one address is held back the same way, before the 401s run out.
    guesser = APIClient()
    guesser.credentials(HTTP_AUTHORIZATION="Bearer m3o_guess")
    guesses = [guesser.get("/api/environments/").status_code for _ in range(6)]
    assert guesses == [401] * 5 + [429]
    # Calls without a token at all, to the endpoints open to them.
    starts = [APIClient().get("/api/schema/").status_code for _ in range(6)]
    assert starts[-1] == 429


def test_the_admin_site_signs_in_through_allauth_with_the_second_factor(client, settings, tmp_path):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal import auth as totp
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.urls import reverse

    settings.VAR_DIR = tmp_path
    printed = io.StringIO()
    call_command("ensure_admin", stdout=printed)
    password_file = tmp_path / "admin-password"
    password = password_file.read_text().strip()
    assert password not in printed.getvalue()
    assert str(password_file) in printed.getvalue()
    assert password_file.stat().st_mode & 0o777 == 0o600
    admin = get_user_model().objects.get(email="admin@localhost")
    secret = totp.generate_totp_secret()
    totp.TOTP.activate(admin, secret)
    assert secret not in str(Authenticator.objects.values_list("data", flat=True).get())

    def signed_in() -> bool:
        return client.get("/admin/").status_code == 200

    # Django's own admin form no longer checks passwords.
    client.post("/admin/login/", {"username": "admin", "password": password})
    assert not signed_in()
    assert client.get("/admin/", follow=True).redirect_chain[-1][0].startswith(reverse("account_login"))
    # The password alone is not enough: the second factor is asked for.
    asked = client.post(reverse("account_login"), {"login": "admin@localhost", "password": password})
    assert asked.url.startswith(reverse("mfa_authenticate"))
    assert not signed_in()
    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong.status_code == 200
    assert not signed_in()
    settings.MFA_TOTP_TOLERANCE = 1  # a code made at the end of a period still counts in the next
    now = list(totp.yield_hotp_counters_from_time())[1]
    code = totp.format_hotp_value(totp.hotp_value(secret, now))
    client.post(reverse("mfa_authenticate"), {"code": code})
    assert signed_in()
    # And the admin's address is held by the login's rate limit like anyone's.
    client.logout()
    for _ in range(6):
        held = client.post(reverse("account_login"), {"login": "admin@localhost", "password": "guess"})
    assert "Too many failed login attempts" in held.content.decode()
