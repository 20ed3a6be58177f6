"""Issue 16's hardening, tried the way an attacker would: secrets copied by readers,
credentials at rest, rate limits behind a proxy, API bursts, the admin site's login."""

import pytest

from deployments import actions, variables
from environments.actions import add_member
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
