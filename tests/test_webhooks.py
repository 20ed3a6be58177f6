"""GitHub push webhooks: only a delivery signed with the service's secret acts,
once per delivery id, and only a push to the tracked branch deploys."""

import json
import threading
import uuid
from urllib.parse import urlencode

import pytest
import requests
from django.db import connection, transaction
from django.urls import reverse

from deployments import actions
from deployments.models import Deployment, LogLine, Service, WebhookDelivery
from deployments.webhooks import sign, signature_is_valid
from tests.conftest import log_text, wait_for
from tests.waiting import eventually

pytest_plugins = ["tests.queues"]  # deploy_queue: a real queue no worker reads

URL = "/hooks/github/"
REPOSITORY_URL = "https://github.com/alice/app.git"


def push_payload(ref="refs/heads/main", *, full_name="alice/app", after="a" * 40, deleted=False):
    """A push event as GitHub documents it, trimmed to what a receiver reads."""
    html_url = f"https://github.com/{full_name}"
    return {
        "ref": ref,
        "before": "b" * 40,
        "after": "0" * 40 if deleted else after,
        "created": False,
        "deleted": deleted,
        "forced": False,
        "repository": {
            "id": 1296269,
            "name": full_name.split("/")[1],
            "full_name": full_name,
            "private": False,
            "html_url": html_url,
            "clone_url": f"{html_url}.git",
            "default_branch": "main",
        },
        "pusher": {"name": "alice", "email": "alice@example.com"},
        "head_commit": None if deleted else {"id": after, "message": "Change", "author": {"name": "Alice"}},
        "commits": [],
    }


def post(client, payload, *, secret=None, event="push", delivery=None, headers=None, body=None):
    body = body if body is not None else json.dumps(payload).encode()
    sent = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
    if secret is not None:
        sent["X-Hub-Signature-256"] = sign(secret, body)
    sent.update(headers or {})
    return client.post(URL, data=body, content_type="application/json", headers=sent)


def rows():
    return (Deployment.objects.count(), WebhookDelivery.objects.count(), LogLine.objects.count())


@pytest.fixture
def service(alice):
    return actions.deploy_repository(alice, name="web", repository_url=REPOSITORY_URL).service


def test_githubs_documented_test_vector_verifies():
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(secret, body) == expected
    assert signature_is_valid(secret, body, expected)
    assert not signature_is_valid(secret, b"Hello, World?", expected)
    assert not signature_is_valid("another secret", body, expected)
    assert not signature_is_valid(secret, body, None)
    assert not signature_is_valid(secret, body, expected.removeprefix("sha256="))
    assert not signature_is_valid(secret, body, "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59")


def test_the_url_is_the_documented_one():
    assert reverse("github-webhook") == URL


@pytest.mark.parametrize("case", ["tampered body", "missing header", "sha1 only", "wrong secret"])
def test_unverified_deliveries_get_401_and_write_nothing(client, service, case):
    body = json.dumps(push_payload()).encode()
    signature = sign(service.webhook_secret, body)
    headers = {
        "tampered body": {"X-Hub-Signature-256": signature},
        "missing header": {},
        "sha1 only": {"X-Hub-Signature": "sha1=" + "0" * 40},
        "wrong secret": {"X-Hub-Signature-256": sign("not the secret", body)},
    }[case]
    if case == "tampered body":
        body = body.replace(b"refs/heads/main", b"refs/heads/mainx")
    before = rows()
    response = post(client, None, body=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]
    assert rows() == before


def test_a_repository_deployed_nowhere_gets_401(client, service):
    before = rows()
    payload = push_payload(full_name="mallory/app")
    response = post(client, payload, secret=service.webhook_secret)
    assert response.status_code == 401
    assert rows() == before


def stored_secret(service) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sealed_webhook_secret FROM deployments_service WHERE id = %s", [service.pk])
        return cursor.fetchone()[0]


def test_the_webhook_secret_is_not_stored_in_clear_and_deliveries_still_verify(client, service, settings):
    import importlib
    import io

    from cryptography.fernet import Fernet
    from django.apps import apps
    from django.core.management import call_command

    secret = service.webhook_secret
    assert len(secret) == 64
    assert secret not in stored_secret(service)
    assert post(client, push_payload(), secret="not the secret").status_code == 401
    # A new key in front, everything re-encrypted, the old key dropped: the same secret verifies.
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.ENCRYPTION_KEYS]
    call_command("rotate_encryption_keys", stdout=io.StringIO())
    settings.ENCRYPTION_KEYS = settings.ENCRYPTION_KEYS[:1]
    response = post(client, push_payload(), secret=secret)
    assert response.status_code == 202
    assert Deployment.objects.filter(pk=response.json()["deployment"], service=service).exists()
    # A secret stored in clear before this (as before the migration) is encrypted by it.
    Service.objects.filter(pk=service.pk).update(sealed_webhook_secret="c" * 64)
    migration = importlib.import_module("deployments.migrations.0010_seal_webhook_secrets")
    migration.seal(apps, None)
    assert "c" * 64 not in stored_secret(service)
    assert Service.objects.get(pk=service.pk).webhook_secret == "c" * 64


def test_push_to_the_tracked_branch_queues_a_deployment(client, service):
    response = post(client, push_payload(), secret=service.webhook_secret, delivery="d-1")
    assert response.status_code == 202
    deployment = Deployment.objects.get(pk=response.json()["deployment"])
    assert (deployment.service, deployment.branch, deployment.state) == (service, "main", "queued")
    assert deployment.requested_by is None
    delivery = WebhookDelivery.objects.get(delivery_id="d-1")
    assert (delivery.service, delivery.event, delivery.deployment) == (service, "push", deployment)
    assert delivery.outcome.startswith("deploying aaaaaaaaaaaa of main")


def test_the_same_delivery_twice_gives_one_deployment(client, service):
    first = post(client, push_payload(), secret=service.webhook_secret, delivery="d-1")
    before = rows()
    second = post(client, push_payload(), secret=service.webhook_secret, delivery="d-1")
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"outcome": "already received"}
    assert rows() == before
    assert service.deployments.filter(requested_by=None).count() == 1


@pytest.mark.parametrize(
    ("payload", "outcome"),
    [
        (push_payload("refs/heads/feature"), "ignored: push to branch feature"),
        (push_payload("refs/tags/v1.0"), "ignored: tag v1.0"),
        (push_payload(deleted=True), "ignored: branch main deleted"),
    ],
)
def test_a_push_to_another_branch_a_tag_or_a_deletion_does_nothing(client, service, payload, outcome):
    deployments = Deployment.objects.count()
    response = post(client, payload, secret=service.webhook_secret, delivery="d-1")
    assert response.status_code == 200
    assert response.json() == {"outcome": outcome}
    assert Deployment.objects.count() == deployments
    assert WebhookDelivery.objects.get(delivery_id="d-1").outcome == outcome


def test_ping_and_other_events_answer_200(client, service):
    ping = {"zen": "Keep it logically awesome.", "hook_id": 1, "repository": push_payload()["repository"]}
    deployments = Deployment.objects.count()
    assert post(client, ping, secret=service.webhook_secret, event="ping").json() == {"outcome": "ping"}
    response = post(client, ping, secret=service.webhook_secret, event="issues")
    assert (response.status_code, response.json()) == (200, {"outcome": "ignored: issues event"})
    assert Deployment.objects.count() == deployments


def test_a_ping_with_the_wrong_secret_gets_401(client, service):
    ping = {"zen": "Keep it logically awesome.", "hook_id": 1, "repository": push_payload()["repository"]}
    before = rows()
    assert post(client, ping, secret="not the secret", event="ping").status_code == 401
    assert rows() == before


def test_a_service_picked_from_github_matches_by_full_name_in_any_case(client, alice):
    deployment = actions.deploy_repository(alice, name="web", repository_url="https://example.com/mirror.git")
    Service.objects.filter(pk=deployment.service_id).update(github_repository="Alice/App")
    response = post(client, push_payload(full_name="alice/app"), secret=deployment.service.webhook_secret)
    assert response.status_code == 202


def test_a_url_with_other_case_matches(client, alice):
    deployment = actions.deploy_repository(alice, name="web", repository_url="https://GitHub.com/Alice/App")
    response = post(client, push_payload(full_name="alice/app"), secret=deployment.service.webhook_secret)
    assert response.status_code == 202


def test_each_environment_acts_only_on_deliveries_signed_with_its_secret(client, alice):
    production = actions.deploy_repository(alice, name="web", repository_url=REPOSITORY_URL).service
    staging = actions.deploy_repository(
        alice, name="web", repository_url=REPOSITORY_URL, environment="staging"
    ).service
    response = post(client, push_payload(), secret=staging.webhook_secret)
    assert response.status_code == 202
    assert Deployment.objects.get(pk=response.json()["deployment"]).service == staging
    assert not production.deployments.filter(requested_by=None).exists()
    response = post(client, push_payload(), secret=production.webhook_secret)
    assert Deployment.objects.get(pk=response.json()["deployment"]).service == production


def test_a_hook_set_to_form_content_type_works_too(client, service):
    body = urlencode({"payload": json.dumps(push_payload())}).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "d-1",
        "X-Hub-Signature-256": sign(service.webhook_secret, body),
    }
    response = client.post(URL, data=body, content_type="application/x-www-form-urlencoded", headers=headers)
    assert response.status_code == 202


def test_a_signed_body_that_is_not_json_gets_400(client, service):
    before = rows()
    response = post(client, None, body=b"{not json", secret=service.webhook_secret)
    assert response.status_code == 400
    assert rows() == before


def test_a_body_over_the_cap_gets_413(client, service):
    before = rows()
    response = post(client, None, body=b" " * (1024 * 1024 + 1), secret=service.webhook_secret)
    assert response.status_code == 413
    assert rows() == before


def test_a_signed_delivery_without_a_delivery_id_gets_400(client, service):
    response = post(client, push_payload(), secret=service.webhook_secret, headers={"X-GitHub-Delivery": ""})
    assert response.status_code == 400
    assert not WebhookDelivery.objects.exists()


def test_other_methods_are_refused(client, db):
    assert client.get(URL).status_code == 405


def test_the_service_page_shows_how_to_add_the_webhook_by_hand(client, alice, service, settings):
    # The address GitHub must call, whatever host the page was asked on.
    settings.SITE_URL = "https://portal.example.org"
    client.force_login(alice)
    page = client.get(reverse("service", args=[service.pk])).content.decode()
    assert "https://portal.example.org/hooks/github/" in page
    assert service.webhook_secret in page
    assert "application/json" in page
    Service.objects.filter(pk=service.pk).update(webhook_id=1234)
    page = client.get(reverse("service", args=[service.pk])).content.decode()
    assert service.webhook_secret not in page


@pytest.mark.django_db(transaction=True)
def test_a_delivery_racing_the_same_delivery_acts_once(alice, deploy_queue):
    if connection.vendor != "postgresql":
        pytest.skip("needs a database where the second insert waits for the first")
    service = actions.deploy_repository(alice, name="web", repository_url=REPOSITORY_URL).service
    deploy_queue.tasks()  # the first deployment, not part of the race
    deploy_queue.received.clear()
    results = []

    def second_request():
        try:
            results.append(
                actions.receive_webhook(service, delivery_id="d-1", event="push", payload=push_payload())
            )
        finally:
            connection.close()

    with transaction.atomic():
        first, created = actions.receive_webhook(
            service, delivery_id="d-1", event="push", payload=push_payload()
        )
        racer = threading.Thread(target=second_request)
        racer.start()
        # The race is real only once the second request is blocked inside the
        # database on the first one's uncommitted row: wait until Postgres says so.
        eventually(
            lambda: blocked_on_a_lock() and racer.is_alive(),
            timeout=30,
            message="the second delivery never waited for the first transaction",
        )
    racer.join(timeout=10)
    assert created
    assert [(delivery.pk, new) for delivery, new in results] == [(first.pk, False)]
    assert deploy_queue.deployments() == [first.deployment_id]
    assert service.deployments.filter(requested_by=None).count() == 1


@pytest.mark.docker
def test_a_signed_push_deploys_the_new_commit(worker, client, alice, make_repo):
    repo = make_repo("static-site")
    first = wait_for(actions.deploy_repository(alice, name="site", repository_url=repo.url))
    assert first.state == "running", log_text(first)
    # As if it had been picked from alice's GitHub repositories.
    Service.objects.filter(pk=first.service_id).update(github_repository="alice/static-site")
    head = repo.commit("Version 2", {"index.html": "<h1>hello from static-site v2</h1>\n"})

    payload = push_payload(full_name="alice/static-site", after=head)
    response = post(client, payload, secret=first.service.webhook_secret)
    assert response.status_code == 202, response.content
    # GitHub gives up on a hook after 10 s: the answer comes once the deployment
    # is queued, long before it is built.
    second = Deployment.objects.get(pk=response.json()["deployment"])
    assert not second.settled, second.state

    second = wait_for(second)
    assert second.state == "running", log_text(second)
    assert second.commit_sha == head
    assert "static-site v2" in requests.get(second.url, timeout=5).text
    first.refresh_from_db()
    assert first.state == "superseded"


def blocked_on_a_lock() -> bool:
    """Whether another session on this test's database is waiting for a row lock."""
    with connection.cursor() as cursor:
        # Inside a transaction Postgres keeps showing its first look at the
        # activity view; drop that so each call sees the present.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0
