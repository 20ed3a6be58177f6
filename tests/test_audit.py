"""The audit log: every action in the actions modules writes exactly one record (walked, so a
new action without one fails here), in its transaction, with who, from where and before/after,
never a secret's value; an environment's admins read its history, nobody else's."""

import inspect
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone

import accounts.actions
import api.tokens
import billing.actions
import billing.seed
import deployments.actions
import deployments.controls
import deployments.scaling
import deployments.variables
import environments.actions
import ingress.actions
import jobs.actions
from billing.models import BillingAccount, Plan
from billing.quotas import account_for
from deployments.models import Deployment, Process, Service
from environments.models import Environment, Event
from ingress.models import Domain
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
State = Deployment.State
MODULES = [
    deployments.actions, deployments.controls, deployments.variables, environments.actions, ingress.actions,
    accounts.actions, billing.actions, api.tokens, jobs.actions, deployments.scaling,
]  # fmt: skip

# Public functions of those modules that change nothing themselves, with the reason.
NOT_ACTIONS = {
    "enqueue": "sends a queued deployment's task; the request that queued it was recorded",
    "converge_later": "the engine's half of a recorded stop or delete",
    "set_commands": "a helper of deploy_repository, which records the change",
    "reap_stale_deployments": "the platform's bookkeeping of dead workers, said in the build log",
    "resend_lost": "the platform sends a lost task again; nothing a person asked for",
    "copy_services": "part of create_environment, whose record names the copy",
    "retire_environment": "part of delete_environment",
    "restart_instance": "the worker's half of a recorded restart",
    "recheck_domains": "runs check_domain for each domain",
    "service_name_for": "a name from a repository name",
    "register_push_webhook": "adds the webhook on GitHub's side after the recorded deploy",
    "deploy_github_repository": "its one record is deploy_repository's",
    "start_checkout": "hands the person to Stripe; the plan changes by apply_subscription",
    "open_portal": "hands the person to Stripe's customer portal",
    "covered": "a question, not a change",
    "digest": "a hash",
    "user_for": "a lookup (touching last_used_at is bookkeeping)",
    "usable_tokens": "a query",
    "validate_key": "a check",
    "shown": "a query",
    "resolve": "a query",
    "copy_variables": "part of create_environment's copy",
    "start_due_cron_jobs": "beat starts the runs a recorded cron job asks for; each is in its history",
    "check": "a check of a scale request",
    "max_replicas": "a query",
    "inherit": "part of a recorded deploy",
    "apply": "the worker's half of a recorded scale",
}


def _deployment(service, state, image="", **fields) -> Deployment:
    return Deployment.objects.create(service=service, state=state, image=image, branch="main", **fields)


@pytest.fixture
def world(alice):
    # A test with a worker before this one empties every table, the seeded plans too.
    billing.seed.ensure(Plan)
    bob = make_user("bob")
    web = deployments.actions.deploy_repository(
        alice, name="web", repository_url="https://example.com/alice/web.git", branch="main"
    ).service
    production = web.environment
    Deployment.objects.filter(service=web).update(state=State.SUPERSEDED, image="m3o-test-app/web:1")
    first = web.deployments.get()
    live = _deployment(web, State.RUNNING, "m3o-test-app/web:2")
    Service.objects.filter(pk=web.pk).update(live_deployment=live)
    web.refresh_from_db()
    api_service = Service.objects.create(
        environment=production, name="api", repository_url=web.repository_url
    )
    stopped = _deployment(api_service, State.STOPPED, "m3o-test-app/api:1")
    Service.objects.filter(pk=api_service.pk).update(live_deployment=stopped)
    api_service.refresh_from_db()
    queued = _deployment(api_service, State.QUEUED)
    staging = environments.actions.create_environment(alice, name="staging")
    membership = environments.actions.add_member(production, bob.email, "member", alice)
    deployments.variables.set_variable(production, "MODE", "one", by=alice)
    token, _ = api.tokens.create_token(alice, "laptop")
    world = SimpleNamespace(**locals())
    world.pks = {name: value.pk for name, value in vars(world).items() if isinstance(value, Model)}
    return world


def _subscription_change(w) -> None:
    hobby = Plan.objects.get(slug="hobby")
    Plan.objects.filter(pk=hobby.pk).update(stripe_price_id="price_audit")
    hobby.refresh_from_db()
    BillingAccount.objects.filter(pk=account_for(w.alice).pk).update(stripe_customer_id="cus_audit")
    subscription = {"id": "sub_1", "status": "active", "customer": "cus_audit",
                    "items": {"data": [{"price": {"id": hobby.stripe_price_id}}]}}  # fmt: skip
    billing.actions.apply_subscription(
        event_id="evt_1", event_created=timezone.now(), subscription=subscription
    )


def _grace_ended(w) -> None:
    account = account_for(w.alice)
    account.plan = Plan.objects.get(slug="open-source")  # web has no license verdict: not covered
    account.grace_until = timezone.now() - timedelta(minutes=1)
    account.save()
    billing.actions.stop_services_after_grace()


def _expired(w) -> None:
    Environment.objects.filter(pk=w.staging.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    environments.actions.delete_expired_environments()


SCENARIOS = {
    "deploy_repository": lambda w: deployments.actions.deploy_repository(
        w.alice, name="web", repository_url="https://example.com/alice/web.git", branch="next"
    ),
    "request_deploy": lambda w: deployments.actions.request_deploy(w.web, w.alice),
    "receive_webhook": lambda w: deployments.actions.receive_webhook(
        w.web,
        delivery_id="d-1",
        event="push",
        payload={"ref": "refs/heads/main", "after": "a" * 40, "repository": {"default_branch": "main"}},
    ),
    "rollback": lambda w: deployments.controls.rollback(w.web, w.first, w.alice),
    "apply_variables": lambda w: deployments.controls.apply_variables(w.web, w.alice),
    "stop": lambda w: deployments.controls.stop(w.web, w.alice),
    "start": lambda w: deployments.controls.start(w.api_service, w.alice),
    "restart": lambda w: deployments.controls.restart(w.web, w.alice),
    "cancel": lambda w: deployments.controls.cancel(w.queued, w.alice),
    "promote": lambda w: deployments.controls.promote(w.live, w.staging, w.alice),
    "delete_service": lambda w: deployments.controls.delete_service(w.api_service, w.alice),
    "set_variable": lambda w: deployments.variables.set_variable(w.web, "KEY", "v", secret=True, by=w.alice),
    "unset_variable": lambda w: deployments.variables.unset_variable(w.production, "MODE", by=w.alice),
    "get_or_create_environment": lambda w: environments.actions.get_or_create_environment(w.alice, "dev"),
    "create_environment": lambda w: environments.actions.create_environment(
        w.alice, name="copy", copy_from=w.production
    ),
    "delete_environment": lambda w: environments.actions.delete_environment(w.staging, w.alice),
    "delete_expired_environments": _expired,
    "add_member": lambda w: environments.actions.add_member(w.production, w.bob.email, "admin", w.alice),
    "remove_member": lambda w: environments.actions.remove_member(w.production, w.membership.pk, w.alice),
    "add_domain": lambda w: ingress.actions.add_domain(w.web, "www.example.invalid", w.alice),
    "remove_domain": lambda w: ingress.actions.remove_domain(
        ingress.actions.add_domain(w.web, "www.example.invalid", w.alice), w.alice
    ),
    "check_domain": lambda w: ingress.actions.check_domain(  # a verdict that changes is recorded
        Domain.objects.create(name="gone.example.invalid", service=w.web, verified_at=timezone.now())
    ),
    "apply_subscription": _subscription_change,
    "stop_services_after_grace": _grace_ended,
    "create_token": lambda w: api.tokens.create_token(w.alice, "ci"),
    "revoke_token": lambda w: api.tokens.revoke_token(w.alice, w.token.pk),
    "run_command": lambda w: jobs.actions.run_command(w.web, "python manage.py migrate", w.alice),
    "add_cron_job": lambda w: jobs.actions.add_cron_job(w.web, w.alice, schedule="*/5 * * * *", command="ls"),
    "set_cron_job_enabled": lambda w: jobs.actions.set_cron_job_enabled(
        jobs.actions.add_cron_job(w.web, w.alice, schedule="@daily", command="true"), False, w.alice
    ),
    "scale": lambda w: deployments.scaling.scale(
        w.web, w.alice, {Process.objects.get_or_create(deployment=w.live, name="web")[0].name: 2}
    ),
    "remove_cron_job": lambda w: jobs.actions.remove_cron_job(
        jobs.actions.add_cron_job(w.web, w.alice, schedule="@daily", command="true"), w.alice
    ),
}
# remove_domain's scenario adds the domain first: that record is counted apart.
EXTRA_RECORDS = {"remove_domain": 1, "remove_cron_job": 1, "set_cron_job_enabled": 1}


def actions_of_the_modules() -> list[str]:
    found = set()
    for module in MODULES:
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == module.__name__ and not name.startswith("_"):
                found.add(name)
    return sorted(found)


def test_every_public_function_of_the_actions_modules_is_walked_or_said_to_change_nothing():
    unknown = [name for name in actions_of_the_modules() if name not in SCENARIOS and name not in NOT_ACTIONS]
    assert unknown == [], "new actions must write one audit record and get a scenario here"


def fresh(world: SimpleNamespace) -> SimpleNamespace:
    """The world's rows read again: a scenario may have changed or deleted the objects in memory."""
    again = {}
    for name, value in vars(world).items():
        pk = world.pks.get(name)
        again[name] = type(value).objects.get(pk=pk) if pk else value
    return SimpleNamespace(**again)


def test_every_action_writes_exactly_one_audit_record(world):
    """Each scenario runs in a savepoint rolled back after it, so all start from the same world."""
    counted = {}
    for name in actions_of_the_modules():
        if name not in SCENARIOS:
            continue
        with transaction.atomic():
            before = Event.objects.count()
            SCENARIOS[name](fresh(world))
            counted[name] = Event.objects.count() - before - EXTRA_RECORDS.get(name, 0)
            transaction.set_rollback(True)
    assert {name: n for name, n in counted.items() if n != 1} == {}
    assert len(counted) >= 20


def test_admins_read_their_environments_history_with_who_and_where_never_a_secret(client, alice, settings):
    import json

    from deployments import controls
    from environments.actions import add_member
    from tests.test_api import api_client

    settings.TRUSTED_PROXIES = 1
    bob, carol = make_user("bob"), make_user("carol")
    web = deployments.actions.deploy_repository(
        alice, name="web", repository_url="https://example.com/alice/web.git"
    ).service
    production = web.environment
    add_member(production, bob.email, "admin", alice)
    add_member(production, carol.email, "member", alice)
    bobs = api_client(bob)
    answer = bobs.post(
        f"/api/environments/{production.pk}/variables/",
        {"key": "DB_PASSWORD", "value": "hunter2-value", "secret": True},
        format="json", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7",
    )  # fmt: skip
    assert answer.status_code == 201, answer.content
    event = Event.objects.get(action="variable")
    assert (event.user, event.address) == (bob, "198.51.100.7")
    assert event.changes == {"DB_PASSWORD": [None, "(secret)"]}
    everything = json.dumps(list(Event.objects.values()), default=str)
    assert "hunter2" not in everything
    # The activity list shows deploys and stops too (issue 14).
    Deployment.objects.filter(service=web).update(state=State.RUNNING)
    Service.objects.filter(pk=web.pk).update(live_deployment=web.deployments.get())
    web.refresh_from_db()
    controls.stop(web, alice)
    client.force_login(carol)
    page = client.get(reverse("environment", args=[production.pk])).content.decode()
    assert "deploy web" in page
    assert "stop web" in page
    # Admins read the history; a member does not, and nobody reads another's account events.
    assert bobs.get(f"/api/audit/?environment={production.pk}").json()["count"] >= 4
    carols = api_client(carol)
    assert carols.get(f"/api/audit/?environment={production.pk}").status_code == 404
    assert all(e["environment"] != production.pk for e in carols.get("/api/audit/").json()["results"])
    assert not [e for e in bobs.get("/api/audit/").json()["results"] if e["detail"].startswith("created test")
                and e["environment"] is None and e["user"] != bob.email]  # fmt: skip
    assert client.get(reverse("environment-history", args=[production.pk])).status_code == 404
    client.force_login(bob)
    history = client.get(reverse("environment-history", args=[production.pk])).content.decode()
    assert "198.51.100.7" in history
    assert "DB_PASSWORD" in history
