"""The free tier and the plans through the real worker, the local git server and the
GitHub fake: what deploys free, what is refused and why, what Pro allows, and
what happens when Pro ends."""

from datetime import timedelta

import docker
import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.actions import deploy_github_repository
from billing import actions
from billing.models import BillingAccount, Plan, ServiceStop
from billing.quotas import account_for
from deployments.models import Deployment, Service
from tests.conftest import log_text, wait_for
from tests.waiting import eventually

pytest_plugins = ["tests.fakes.github", "tests.fakes.stripe"]
pytestmark = pytest.mark.docker

REPOSITORIES = {
    # name: (sample app, private, GitHub's license reading)
    "mit": ("static-mit", False, "MIT"),
    "bare": ("static-unlicensed", False, None),
    "busl": ("static-busl", False, "NOASSERTION"),
    "secret": ("static-mit", True, "MIT"),
}
FREE_TIER_REFUSAL = (
    "The Open Source plan deploys public repositories with an OSI-approved license only, "
    "and this one does not qualify: {}. Upgrade at {}/billing/"
)


@pytest.fixture
def octo(fake_github, alice):
    octo = fake_github.add_user("octo", "octo@example.com")
    for name, (app, private, license) in REPOSITORIES.items():
        fake_github.add_repository(octo, name, app=app, private=private, license=license, language="HTML")
    account = SocialAccount.objects.create(user=alice, provider="github", uid=str(octo.id), extra_data={})
    SocialToken.objects.create(account=account, token=octo.token)
    return octo


def deploy(alice, name: str) -> Deployment:
    # One at a time: the Open Source plan builds one deployment at a time.
    return wait_for(deploy_github_repository(alice, f"octo/{name}"))


def on_plan(user, slug: str) -> None:
    account = account_for(user)
    account.plan = Plan.objects.get(slug=slug)
    account.save()


def test_the_free_tier_deploys_a_public_mit_repository_and_refuses_the_rest_with_the_reason(
    alice, github_worker, octo, client, pro_plan
):
    mit = deploy(alice, "mit")
    assert mit.state == Deployment.State.RUNNING, log_text(mit)
    assert "==> Open-source free tier: qualifies (license MIT is OSI-approved); plan Open Source" in log_text(
        mit
    )

    for name, reason in [
        ("bare", "no license file"),
        ("busl", "license BUSL-1.1 is not OSI-approved"),
        ("secret", "repository is private"),
    ]:
        refused = deploy(alice, name)
        assert refused.state == Deployment.State.FAILED, log_text(refused)
        assert refused.failure_reason == FREE_TIER_REFUSAL.format(reason, settings.SITE_URL)
        assert not refused.image  # refused before building

    client.force_login(alice)
    page = client.get(reverse("service", args=[mit.service_id])).content.decode()
    assert "Open-source free tier: qualifies: license MIT is OSI-approved." in page
    busl = Service.objects.get(name="busl")
    page = client.get(reverse("service", args=[busl.pk])).content.decode()
    assert "Open-source free tier: does not qualify: license BUSL-1.1 is not OSI-approved." in page


def test_the_same_repositories_deploy_on_pro_with_pros_container_limits(alice, github_worker, octo, pro_plan):
    on_plan(alice, "pro")
    for name in REPOSITORIES:
        deployment = deploy(alice, name)
        assert deployment.state == Deployment.State.RUNNING, log_text(deployment)
    secret = Deployment.objects.get(service__name="secret", state=Deployment.State.RUNNING)
    host_config = docker.from_env().containers.get(secret.instance_id).attrs["HostConfig"]
    assert host_config["Memory"] == 4096 * 1024 * 1024
    assert host_config["NanoCpus"] == 2 * 10**9


def test_when_pro_ends_private_services_run_through_the_grace_period_then_stop(
    alice, github_worker, octo, fake_stripe, pro_plan, mailoutbox, settings
):
    settings.BILLING_GRACE_DAYS = 2
    on_plan(alice, "pro")
    account = BillingAccount.objects.get(user=alice)
    account.stripe_customer_id, account.stripe_subscription_id = "cus_alice", "sub_alice"
    account.save()
    mit, secret = deploy(alice, "mit"), deploy(alice, "secret")
    assert (mit.state, secret.state) == (Deployment.State.RUNNING, Deployment.State.RUNNING)

    actions.apply_subscription(
        event_id="evt_canceled",
        event_created=timezone.now(),
        subscription={
            "id": "sub_alice",
            "customer": "cus_alice",
            "status": "canceled",
            "items": {"data": []},
        },
    )
    account.refresh_from_db()
    assert account.plan.slug == "open-source"
    engine = docker.from_env()
    # Within the grace period nothing stops.
    assert actions.stop_services_after_grace(now=timezone.now() + timedelta(days=1)) == []
    assert engine.containers.get(secret.instance_id).status == "running"

    stopped = actions.stop_services_after_grace(now=timezone.now() + timedelta(days=2, minutes=1))
    assert stopped == [secret.service_id]
    # A worker removes the instance right after the stop is committed.
    eventually(lambda: not engine.containers.list(all=True, filters={"id": secret.instance_id}))
    assert engine.containers.get(mit.instance_id).status == "running"
    # Nothing is deleted: the service, its deployment and its image are all there.
    service = Service.objects.get(pk=secret.service_id)
    assert service.live_deployment_id == secret.pk
    assert engine.images.get(Deployment.objects.get(pk=secret.pk).image)
    assert ServiceStop.objects.get(service=service).deployment_id == secret.pk
    assert "==> Stopped: the Open Source plan does not cover it" in log_text(secret)
    mail = mailoutbox[-1]
    assert mail.to == ["alice@example.com"]
    assert "secret (production)" in mail.body
    assert "mit (production)" not in mail.body
    # A second sweep has nothing left to do and sends nothing.
    count = len(mailoutbox)
    assert actions.stop_services_after_grace(now=timezone.now() + timedelta(days=3)) == []
    assert len(mailoutbox) == count
