"""Issue 16's hardening, tried the way an attacker would: secrets copied by readers,
credentials at rest, rate limits behind a proxy, API bursts, the admin site's login."""

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
    ]
    everything = "".join(result.stdout + result.stderr for result in printed)
    assert "value abcdef" in everything  # the text stays, the sequences go
    for byte in "\x1b\x9b\x07\x08\r\x7f":
        assert byte not in everything
