"""Environments: creating, copying, members and their rights, variables and secrets."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from deployments import actions, variables
from deployments.models import Deployment, Service, Variable
from environments.actions import EnvironmentError, add_member, create_environment, delete_expired_environments
from environments.models import Environment
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(alice):
    deployment = actions.deploy_repository(
        alice, name="web", repository_url="https://example.com/alice/web.git"
    )
    return deployment.service.environment


def test_a_personal_environment_copies_services_and_their_variables(alice, production):
    web = production.services.get()
    variables.set_variable(web, "GREETING", "hello")
    variables.set_variable(web, "API_KEY", "s3cret", secret=True)
    dev = create_environment(alice, name="dev-alice", kind="personal", copy_from=production, ttl_hours=8)
    copied = dev.services.get()
    assert (copied.name, copied.repository_url, copied.branch) == ("web", web.repository_url, web.branch)
    assert variables.resolve(copied) == {"GREETING": "hello", "API_KEY": "s3cret"}
    assert copied.deployments.get().state == Deployment.State.QUEUED
    assert dev.expires_at is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Dev Ana"}, "not a valid name"),
        ({"name": "production"}, "already have an environment called production"),
        ({"name": "dev", "ttl_hours": 0}, "between 1 hour and 90 days"),
        ({"name": "dev", "kind": "galaxy"}, "not a kind of environment"),
    ],
)
def test_bad_environment_requests_are_refused_plainly(alice, production, kwargs, message):
    with pytest.raises(EnvironmentError, match=message):
        create_environment(alice, **kwargs)


def test_expired_environments_are_deleted(alice, production):
    dev = create_environment(alice, name="dev", ttl_hours=1)
    Environment.objects.filter(pk=dev.pk).update(expires_at="2000-01-01T00:00:00Z")
    assert delete_expired_environments() == [dev.pk]
    dev.refresh_from_db()
    assert dev.is_deleted
    production.refresh_from_db()
    assert not production.is_deleted


def test_values_are_encrypted_at_rest_and_secrets_never_shown(client, alice, production):
    variables.set_variable(production, "DATABASE_URL", "postgres://db/secret-password", secret=True)
    variables.set_variable(production, "MODE", "plain-value")
    stored = list(Variable.objects.values_list("encrypted_value", flat=True))
    assert not any("secret-password" in value or "plain-value" in value for value in stored)
    client.force_login(alice)
    page = client.get(reverse("environment", args=[production.pk])).content.decode()
    assert "secret-password" not in page
    assert "secret, set" in page
    assert "plain-value" in page


def test_a_service_variable_wins_over_the_environments(production):
    web = production.services.get()
    variables.set_variable(production, "MODE", "environment")
    variables.set_variable(production, "ONLY_ENV", "1")
    variables.set_variable(web, "MODE", "service")
    assert variables.resolve(web) == {"MODE": "service", "ONLY_ENV": "1"}


@pytest.mark.parametrize("key", ["PORT", "1ABC", "WITH SPACE", "A-B"])
def test_bad_variable_names_are_refused(production, key):
    with pytest.raises(variables.InvalidVariable):
        variables.set_variable(production, key, "x")


def test_keys_rotate(settings, production):
    from cryptography.fernet import Fernet

    variables.set_variable(production, "TOKEN", "abc", secret=True)
    old_keys = settings.ENCRYPTION_KEYS
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *old_keys]
    call_command("rotate_encryption_keys")
    settings.ENCRYPTION_KEYS = settings.ENCRYPTION_KEYS[:1]  # the old key is gone now
    assert variables.resolve(production.services.get()) == {"TOKEN": "abc"}


def post(client, name, *args, **data):
    return client.post(reverse(name, args=args), data)


def test_a_member_deploys_and_reads_but_changes_nothing_else(client, alice, production):
    carol = make_user("carol")
    add_member(production, "carol@example.com", "member", alice)
    web = production.services.get()
    client.force_login(carol)
    assert client.get(reverse("environment", args=[production.pk])).status_code == 200
    assert client.get(reverse("service", args=[web.pk])).status_code == 200
    assert post(client, "redeploy", web.pk).status_code == 302
    assert web.deployments.count() == 2
    assert post(client, "environment-variable-set", production.pk, key="X", value="1").status_code == 404
    assert post(client, "service-variable-set", web.pk, key="X", value="1").status_code == 404
    assert (
        post(
            client, "environment-member-add", production.pk, email="bob@example.com", role="admin"
        ).status_code
        == 404
    )
    assert post(client, "environment-delete", production.pk).status_code == 404
    assert not Variable.objects.exists()
    assert not Environment.objects.get(pk=production.pk).is_deleted
    # Carol is still a plain member and nobody was added: her admin request changed nothing.
    assert production.memberships.get(user=carol).role == "member"
    assert not production.memberships.filter(user__email="bob@example.com").exists()


def test_an_admin_changes_variables_and_members(client, alice, bob, production):
    make_user("carol")
    add_member(production, "carol@example.com", "admin", alice)
    client.force_login(Environment.objects.get(pk=production.pk).memberships.get().user)
    assert post(client, "environment-variable-set", production.pk, key="X", value="1").status_code == 302
    assert (
        post(
            client, "environment-member-add", production.pk, email="bob@example.com", role="member"
        ).status_code
        == 302
    )
    assert production.memberships.filter(user=bob).exists()
    assert Variable.objects.filter(environment=production, key="X").exists()


def test_adding_an_unknown_person_says_so(alice, production):
    with pytest.raises(EnvironmentError, match=r"Nobody with the email address zed@example\.com"):
        add_member(production, "zed@example.com", "member", alice)


def test_deleting_an_environment_wants_its_name_typed_and_a_wrong_one_deletes_nothing(
    client, alice, production
):
    client.force_login(alice)
    page = client.get(reverse("environment", args=[production.pk]))
    assert b"confirm(" not in page.content  # no JavaScript question: a page of its own
    asked = client.get(reverse("environment-delete", args=[production.pk]))
    assert asked.status_code == 200
    assert b"Stops and removes every service of production (web)" in asked.content
    assert b'name="confirm_name"' in asked.content
    for typed in ("", "Production", "staging", "production-x"):
        refused = post(client, "environment-delete", production.pk, confirm_name=typed)
        assert refused.status_code == 400, typed
        assert b"Type production exactly to delete it." in refused.content or typed == ""
        production.refresh_from_db()
        assert not production.is_deleted, typed
    assert production.services.get().deployments.get().state == Deployment.State.QUEUED
    done = post(client, "environment-delete", production.pk, confirm_name=" production ")
    assert done.status_code == 302
    production.refresh_from_db()
    assert production.is_deleted


def test_a_deleted_environment_stays_readable_to_its_owner_only(client, alice, production):
    carol = make_user("carol")
    add_member(production, "carol@example.com", "member", alice)
    deployment = production.services.get().deployments.get()
    client.force_login(alice)
    assert post(client, "environment-delete", production.pk, confirm_name="production").status_code == 302
    assert client.get(reverse("deployment", args=[deployment.pk])).status_code == 200
    assert client.get(reverse("environment", args=[production.pk])).status_code == 200
    assert post(client, "redeploy", deployment.service_id).status_code == 404
    client.force_login(carol)
    assert client.get(reverse("deployment", args=[deployment.pk])).status_code == 404


def make_history(owner, services: int, deployments: int):
    environment = create_environment(owner, name=f"env-{services}-{deployments}")
    for number in range(services):
        service = Service.objects.create(
            environment=environment, name=f"svc-{number}", repository_url="https://example.com/a/b.git"
        )
        for _ in range(deployments):
            Deployment.objects.create(service=service, branch="main", state="superseded", image="x:1")
    return environment


@pytest.mark.parametrize("page", ["dashboard", "environment", "service"])
def test_queries_per_page_do_not_grow_with_history(
    client, alice, production, django_assert_max_num_queries, page
):
    small = make_history(alice, services=1, deployments=1)
    client.force_login(alice)

    def url(environment):
        if page == "dashboard":
            return reverse("dashboard")
        if page == "environment":
            return reverse("environment", args=[environment.pk])
        return reverse("service", args=[environment.services.first().pk])

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(url(small)).status_code == 200
    # Only now the long history: the dashboard, which shows everything, is
    # measured once before it exists and once after.
    large = make_history(alice, services=12, deployments=15)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url(large)).status_code == 200


def test_queued_deployments_know_their_place_in_line(alice, production):
    from deployments import queue

    first = production.services.get().deployments.get()
    other = actions.deploy_repository(alice, name="api", repository_url="https://example.com/alice/api.git")
    assert queue.position(first) == 1
    assert queue.position(other) == 2
    assert queue.positions() == {first.pk: 1, other.pk: 2}
    Deployment.objects.filter(pk=first.pk).update(state="building")
    other.refresh_from_db()
    assert queue.position(other) == 1
