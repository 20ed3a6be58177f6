"""Quotas that hold: each limit of a plan at the limit and one past it, and the
open-source verdict with the local GitHub fake (no containers needed here)."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.conf import settings
from django.utils import timezone

from billing import seed, usage
from billing.models import LicenseCheck, Plan
from billing.quotas import QuotaExceeded, account_for, check_deploy, limits_for
from deployments.models import Deployment, Service
from environments.models import Environment

pytest_plugins = ["tests.fakes.github"]
APPS = Path(__file__).resolve().parent / "apps"
State = Deployment.State


@pytest.fixture
def tight(alice):
    """Alice on a small paid-like plan, so each limit is reached in a few rows."""
    plan = Plan.objects.create(
        slug="tight", name="Tight", stripe_price_id="price_tight", max_services=2, max_environments=1,
        memory_mb=128, cpus=Decimal("0.25"), max_concurrent_builds=1, build_minutes_per_month=10,
        private_repositories=False, position=9,
    )  # fmt: skip
    account = account_for(alice)
    account.plan = plan
    account.save()
    return plan


def service_of(user, name: str, environment: str = "production", **fields) -> Service:
    env, _ = Environment.objects.get_or_create(owner=user, name=environment)
    fields.setdefault("repository_url", f"https://example.com/{name}.git")
    return Service.objects.create(environment=env, name=name, **fields)


def deployment_of(service: Service, **fields) -> Deployment:
    return Deployment.objects.create(service=service, branch="main", **fields)


def check(service: Service, app: str = "static-mit") -> list[str]:
    lines: list[str] = []
    now = timezone.now()
    deployment = deployment_of(service, state=State.CLONING, started_at=now)
    try:
        check_deploy(service, deployment, APPS / app, lines.append)
    finally:
        # Done at once, so it neither builds on nor spends minutes for the next check.
        Deployment.objects.filter(pk=deployment.pk).update(state=State.FAILED, finished_at=now)
    return lines


def test_everyone_starts_on_the_seeded_open_source_plan(alice):
    seed.ensure(Plan)
    assert list(Plan.objects.values_list("slug", flat=True)) == ["open-source", "hobby", "pro"]
    assert account_for(alice).plan.slug == "open-source"


def test_services_at_the_limit_deploy_and_one_past_it_is_refused(alice, tight):
    first, second, third = (service_of(alice, n) for n in ("one", "two", "three"))
    check(first)
    check(second)
    with pytest.raises(QuotaExceeded) as refused:
        check(third)
    assert str(refused.value) == (
        f"The Tight plan allows 2 services; this would be service 3. Upgrade at {settings.SITE_URL}/billing/"
    )
    # The older services keep deploying.
    check(first)


def test_environments_at_the_limit_deploy_and_one_past_it_is_refused(alice, tight):
    check(service_of(alice, "web", "production"))
    with pytest.raises(QuotaExceeded, match=r"allows 1 environment; staging is environment 2\."):
        check(service_of(alice, "api", "staging"))


def test_concurrent_builds_at_the_limit_and_one_past_it(alice, bob, tight):
    web, api = service_of(alice, "web"), service_of(alice, "api")
    deployment_of(service_of(bob, "web"), state=State.BUILDING)  # bob's builds are not alice's
    check(web)
    deployment_of(web, state=State.BUILDING, started_at=timezone.now())
    with pytest.raises(QuotaExceeded, match=r"allows 1 concurrent build and 1 is running"):
        check(api)


@pytest.mark.parametrize(("minutes", "refused"), [(9, False), (10, True)])
def test_build_minutes_at_the_limit_and_past_it(alice, tight, minutes, refused):
    web = service_of(alice, "web")
    now = timezone.now()
    start = max(usage.month_start(now), now - timedelta(minutes=minutes + 1))
    deployment_of(web, state=State.FAILED, started_at=start, finished_at=start + timedelta(minutes=minutes))
    # Last month's minutes never count.
    last_month = usage.month_start(now) - timedelta(days=3)
    deployment_of(web, state=State.FAILED, started_at=last_month, finished_at=last_month + timedelta(hours=9))
    if refused:
        with pytest.raises(QuotaExceeded, match=r"includes 10 build minutes a month and 10 are used"):
            check(web)
    else:
        check(web)


def test_private_repositories_only_on_plans_that_include_them(alice, tight):
    private = service_of(alice, "secret", is_private=True)
    with pytest.raises(QuotaExceeded, match=r"The Tight plan does not include private repositories\."):
        check(private)
    Plan.objects.filter(pk=tight.pk).update(private_repositories=True)
    check(private)


def test_memory_and_cpu_per_instance_come_from_the_plan(alice, tight):
    web = service_of(alice, "web")
    limits = limits_for(web)
    assert (limits.memory_mb, limits.cpus) == (128, 0.25)
    Plan.objects.filter(pk=tight.pk).update(memory_mb=4096, cpus=Decimal("2.00"))
    limits = limits_for(web)
    assert (limits.memory_mb, limits.cpus) == (4096, 2.0)


# --- the open-source verdict, with GitHub's API and the tree --------------------------------


@pytest.fixture
def pro_for_sale(db):
    seed.ensure(Plan)
    Plan.objects.filter(slug="pro").update(stripe_price_id="price_pro")


@pytest.fixture
def octo(fake_github, alice, pro_for_sale):
    octo = fake_github.add_user("octo", "octo@example.com")
    account = SocialAccount.objects.create(user=alice, provider="github", uid=str(octo.id), extra_data={})
    SocialToken.objects.create(account=account, token=octo.token)
    return octo


def github_service(fake_github, owner, user, name, *, private=False, license=None) -> Service:
    repo = fake_github.add_repository(owner, name, private=private, license=license)
    return service_of(
        user, name, repository_url=fake_github.clone_url(repo), github_repository=repo.full_name,
        is_private=private,
    )  # fmt: skip


def test_a_public_mit_repository_qualifies_for_the_free_tier(alice, fake_github, octo):
    web = github_service(fake_github, octo, alice, "web", license="MIT")
    lines = check(web, "static-mit")
    assert lines == ["==> Open-source free tier: qualifies (license MIT is OSI-approved); plan Open Source"]
    assert LicenseCheck.objects.get(service=web).reason == "license MIT is OSI-approved"
    assert fake_github.seen("/api/repos/octo/web")


def test_githubs_gpl_3_0_agrees_with_a_gpl_3_0_only_text(alice, fake_github, octo):
    web = github_service(fake_github, octo, alice, "web", license="GPL-3.0")
    check(web, "static-gpl")
    assert LicenseCheck.objects.get(service=web).reason == "license GPL-3.0-only is OSI-approved"


@pytest.mark.parametrize(
    ("app", "license", "reason"),
    [
        ("static-unlicensed", None, "no license file"),
        ("static-busl", "NOASSERTION", "license BUSL-1.1 is not OSI-approved"),
        ("static-mit", "Apache-2.0", "GitHub reads the license as Apache-2.0 but LICENSE reads as MIT"),
    ],
)
def test_the_free_tier_refuses_with_the_reason(alice, fake_github, octo, app, license, reason):
    web = github_service(fake_github, octo, alice, "web", license=license)
    with pytest.raises(QuotaExceeded) as refused:
        check(web, app)
    assert str(refused.value) == (
        "The Open Source plan deploys public repositories with an OSI-approved license only, "
        f"and this one does not qualify: {reason}. Upgrade at {settings.SITE_URL}/billing/"
    )
    assert not LicenseCheck.objects.get(service=web).qualifies


def test_a_repository_that_went_private_on_github_is_refused(alice, fake_github, octo):
    web = github_service(fake_github, octo, alice, "web", license="MIT")
    check(web)
    fake_github.repos["octo/web"].private = True
    with pytest.raises(QuotaExceeded, match="does not qualify: repository is private"):
        check(web)
    assert LicenseCheck.objects.get(service=web).private


def test_without_github_the_tree_decides(alice, fake_github, pro_for_sale):
    web = service_of(alice, "web")
    check(web, "static-mit")
    assert LicenseCheck.objects.get(service=web).reason == (
        "license MIT is OSI-approved (read from LICENSE; not on GitHub)"
    )


def test_where_no_plan_is_sold_nothing_is_refused_and_the_verdict_is_still_kept(alice):
    seed.ensure(Plan)
    assert not Plan.objects.exclude(stripe_price_id="").exists()
    web = service_of(alice, "web", is_private=True)
    [line] = check(web, "static-unlicensed")
    assert line == (
        "==> Open-source free tier: does not qualify (repository is private); "
        "no plan is sold here, so no limits"
    )
    assert LicenseCheck.objects.get(service=web).reason == "repository is private"
    limits = limits_for(web)
    assert (limits.memory_mb, limits.cpus) == (settings.INSTANCE_MEMORY_MB, settings.INSTANCE_CPUS)
