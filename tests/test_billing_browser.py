"""Upgrade to Pro through Stripe Checkout (the local fake) in a real browser, then
deploy a private repository, which the free tier refused."""

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from playwright.sync_api import expect

from billing.models import BillingAccount, PlanChange
from tests.browser import log_in

pytest_plugins = ["tests.fakes.github", "tests.fakes.stripe"]
pytestmark = [pytest.mark.browser, pytest.mark.docker]


def test_upgrade_through_checkout_then_deploy_a_private_repository(
    alice, github_worker, fake_github, fake_stripe, pro_plan, stripe_webhook, live_server, page, settings
):
    settings.SITE_URL = live_server.url
    fake_stripe.webhook_url = f"{live_server.url}{stripe_webhook}"
    octo = fake_github.add_user("octo", "octo@example.com")
    fake_github.add_repository(octo, "secret", app="static-mit", private=True, license="MIT", language="HTML")
    account = SocialAccount.objects.create(user=alice, provider="github", uid=str(octo.id), extra_data={})
    SocialToken.objects.create(account=account, token=octo.token)
    log_in(page, live_server.url, "alice@example.com", "alice-password-1")

    page.get_by_role("link", name="Plan", exact=True).click()
    expect(page.locator("#current-plan h1")).to_have_text("Your plan: Open Source")
    page.get_by_role("button", name="Choose Pro").click()

    # The fake's Checkout page pays, sends the signed webhook, and redirects back.
    expect(page.get_by_text("Your plan changes as soon as Stripe confirms the payment.")).to_be_visible()
    expect(page.locator("#current-plan h1")).to_have_text("Your plan: Pro")
    expect(page.locator("#current-plan")).to_contain_text("Subscription: active")
    [delivery] = fake_stripe.deliveries
    assert delivery.status_code == 200
    billing = BillingAccount.objects.get(user=alice)
    assert billing.stripe_customer_id.startswith("cus_")
    assert PlanChange.objects.get(account=billing).to_plan.slug == "pro"
    [session] = [r for r in fake_stripe.requests if r.path == "/v1/checkout/sessions"]
    assert session.form["line_items[0][price]"] == "price_pro"
    assert session.form["customer"] == billing.stripe_customer_id

    page.goto(f"{live_server.url}/accounts/github/repositories/")
    page.locator("tr[data-repository='octo/secret']").get_by_role("link", name="Choose").click()
    page.get_by_role("button", name="Deploy").click()
    expect(page.get_by_role("heading", name="Deployment #")).to_be_visible()
    expect(page.locator("#state [data-state=running]")).to_be_visible(timeout=180_000)
    page.locator("#url a.url").click()
    expect(page.locator("h1")).to_have_text("hello from static-mit")

    # The billing portal opens for the paying customer.
    page.goto(f"{live_server.url}/billing/")
    page.get_by_role("button", name="Manage billing").click()
    expect(page.locator("h1")).to_have_text("Stripe customer portal (fake)")
