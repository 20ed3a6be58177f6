"""Every way to run code again asks billing what a build asks: start, restart of a
stopped service, rollback and promote past a plan's limit are refused, on the
dashboard and through the API, with the words a build would be refused with,
and nothing is queued. No image is run here: the refusal comes before any worker."""

import html
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from api import tokens
from billing import seed
from billing.models import LicenseCheck, Plan
from billing.quotas import QuotaExceeded, account_for, check_deploy
from deployments.models import Deployment, Service
from environments.models import Environment

APPS = Path(__file__).resolve().parent / "apps"
State = Deployment.State
FREE_TIER_REFUSAL = (
    "The Open Source plan deploys public repositories with an OSI-approved license only, "
    "and this one does not qualify: {}. Upgrade at {}/billing/"
)


@pytest.fixture
def tight(alice):
    """Alice on a small plan that is sold, so its limits hold: 2 services, 1 environment."""
    plan = Plan.objects.create(
        slug="tight", name="Tight", stripe_price_id="price_tight", max_services=2, max_environments=1,
        memory_mb=128, cpus=Decimal("0.25"), max_concurrent_builds=1, build_minutes_per_month=10,
        private_repositories=False, position=9,
    )  # fmt: skip
    on_plan(alice, plan)
    return plan


def on_plan(user, plan: Plan) -> None:
    account = account_for(user)
    account.plan = plan
    account.save()


def service_of(user, name: str, environment: str = "production", **fields) -> Service:
    env, _ = Environment.objects.get_or_create(owner=user, name=environment)
    fields.setdefault("repository_url", f"https://example.com/{name}.git")
    return Service.objects.create(environment=env, name=name, **fields)


def built(service: Service, state: str, verdict: str = "license MIT is OSI-approved") -> Deployment:
    """A deployment that built an image and ran it, now in `state`, with its license verdict."""
    now = timezone.now()
    deployment = Deployment.objects.create(
        service=service, branch="main", state=state, image=f"test-app/s{service.pk}:d{service.pk}",
        started_at=now, finished_at=now,
    )  # fmt: skip
    LicenseCheck.objects.update_or_create(
        service=service,
        defaults={
            "deployment_id": deployment.pk,
            "qualifies": verdict.endswith("OSI-approved"),
            "reason": verdict,
        },
    )
    if state == State.RUNNING:
        Service.objects.filter(pk=service.pk).update(live_deployment=deployment)
    return deployment


def builds_refusal(service: Service, app: str = "static-mit") -> str:
    """What a build of this service would be refused with, after checking out `app`."""
    deployment = Deployment.objects.create(service=service, branch="main", state=State.CLONING)
    try:
        with pytest.raises(QuotaExceeded) as refused:
            check_deploy(service, deployment, APPS / app, lambda line: None)
    finally:
        deployment.delete()
    return str(refused.value)


def on_the_dashboard(user, client, name: str, service: Service, data: dict | None = None) -> str:
    """Press the button; return the message the service page then shows."""
    client.force_login(user)
    args = [service.pk, data.pop("deployment")] if name == "rollback" else [service.pk]
    # Past the confirmation step that rollback and stop ask for.
    page = client.post(
        reverse(f"service-{name}", args=args), {**(data or {}), "confirmed": "yes"}, follow=True
    )
    assert page.status_code == 200
    shown = [m.message for m in page.context["messages"]]
    assert len(shown) == 1, shown
    assert html.escape(shown[0]) in page.content.decode()
    return shown[0]


def through_the_api(user, name: str, service: Service, data: dict | None = None) -> str:
    from rest_framework.test import APIClient

    _, raw = tokens.create_token(user, "test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    answer = client.post(f"/api/services/{service.pk}/{name}/", data or {}, format="json")
    assert answer.status_code == 400, answer.content
    return answer.json()["error"]


def refused(how: str, user, client, name: str, service: Service, data: dict | None = None) -> str:
    queued_before = Deployment.objects.filter(state=State.QUEUED).count()
    services_before = Service.objects.count()
    if how == "dashboard":
        message = on_the_dashboard(user, client, name, service, dict(data or {}))
    else:
        message = through_the_api(user, name, service, data)
    assert Deployment.objects.filter(state=State.QUEUED).count() == queued_before  # nothing queued
    assert Service.objects.count() == services_before  # a promote leaves no service behind
    return message


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["dashboard", "api"])
@pytest.mark.parametrize("action", ["start", "restart", "rollback"])
def test_the_service_past_the_plans_limit_cannot_run_again(alice, tight, client, how, action):
    # Alice had three services on a bigger plan; Tight allows two.
    one, two, three = (service_of(alice, name) for name in ("one", "two", "three"))
    for service in (one, two):
        built(service, State.RUNNING)
    earlier = built(three, State.SUPERSEDED)
    built(three, State.STOPPED)
    expected = (
        f"The Tight plan allows 2 services; this would be service 3. Upgrade at {settings.SITE_URL}/billing/"
    )
    assert builds_refusal(three) == expected

    data = {"deployment": earlier.pk} if action == "rollback" else None
    assert refused(how, alice, client, action, three, data) == expected


@pytest.mark.django_db
def test_within_the_plan_start_restart_and_rollback_are_queued(alice, tight, client):
    one = service_of(alice, "one")
    earlier = built(one, State.SUPERSEDED)
    built(one, State.STOPPED)
    client.force_login(alice)
    client.post(reverse("service-restart", args=[one.pk]))  # stopped: it starts
    client.post(reverse("service-rollback", args=[one.pk, earlier.pk]), {"confirmed": "yes"})
    queued = Deployment.objects.filter(service=one, state=State.QUEUED).values_list("source_id", flat=True)
    assert list(queued) == [earlier.pk]  # the rollback, after the start it superseded
    assert Deployment.objects.filter(service=one, state=State.SUPERSEDED, source__isnull=False).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["dashboard", "api"])
def test_promoting_into_an_environment_past_the_plans_limit_is_refused(alice, tight, client, how):
    live = built(service_of(alice, "web"), State.RUNNING)
    staging = Environment.objects.create(owner=alice, name="staging")
    expected = "The Tight plan allows 1 environment; staging is environment 2. "
    expected += f"Upgrade at {settings.SITE_URL}/billing/"
    assert refused(how, alice, client, "promote", live.service, {"environment": staging.pk}) == expected
    assert not Service.objects.filter(environment=staging).exists()

    Plan.objects.filter(pk=tight.pk).update(max_environments=2)
    client.force_login(alice)
    client.post(reverse("service-promote", args=[live.service_id]), {"environment": staging.pk})
    promoted = Service.objects.get(environment=staging)
    assert promoted.deployments.get().source_id == live.pk
    # The image's verdict travels with it, for the page and for the end of a paid plan.
    assert promoted.license_check.reason == "license MIT is OSI-approved"


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["dashboard", "api"])
def test_the_free_tier_holds_for_an_image_already_built(alice, client, how):
    seed.ensure(Plan)
    Plan.objects.filter(slug="pro").update(stripe_price_id="price_pro")  # plans hold once one is sold
    on_plan(alice, Plan.objects.get(slug="open-source"))
    bare = service_of(alice, "bare")
    built(bare, State.STOPPED, verdict="no license file")
    secret = service_of(alice, "secret", is_private=True)
    built(secret, State.STOPPED)

    assert refused(how, alice, client, "start", bare) == FREE_TIER_REFUSAL.format(
        "no license file", settings.SITE_URL
    )
    assert refused(how, alice, client, "start", secret) == FREE_TIER_REFUSAL.format(
        "repository is private", settings.SITE_URL
    )
    assert builds_refusal(bare, "static-unlicensed") == FREE_TIER_REFUSAL.format(
        "no license file", settings.SITE_URL
    )


@pytest.mark.django_db
def test_bob_promoting_into_alices_environment_is_held_to_alices_plan(alice, bob, tight, client):
    """A member deploys under the owner's plan, whoever presses the button."""
    from environments.actions import add_member

    production = Environment.objects.create(owner=alice, name="production")
    for name in ("one", "two"):
        Service.objects.create(
            environment=production, name=name, repository_url=f"https://example.com/{name}.git"
        )
    add_member(production, "bob@example.com", "member", alice)
    live = built(service_of(bob, "api"), State.RUNNING)
    expected = (
        f"The Tight plan allows 2 services; this would be service 3. Upgrade at {settings.SITE_URL}/billing/"
    )
    assert refused("api", bob, client, "promote", live.service, {"environment": production.pk}) == expected
