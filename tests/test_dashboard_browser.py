"""The minimal dashboard in a real browser: deploy a repository and watch it happen."""

import pytest
from playwright.sync_api import expect

from deployments.models import Deployment
from ingress.names import service_url
from tests.browser import log_in

pytestmark = [pytest.mark.docker, pytest.mark.browser]


def test_deploy_from_the_dashboard_and_follow_the_log_live(worker, live_server, page, alice, make_repo):
    repo = make_repo("python-dockerfile")
    log_in(page, live_server.url, "alice@example.com", "alice-password-1")
    expect(page.get_by_role("heading", name="Welcome to M3O")).to_be_visible()

    page.get_by_label("Repository URL").fill(repo.url)
    page.get_by_label("Service name").fill("hello")
    page.get_by_role("button", name="Deploy").click()
    expect(page.get_by_role("heading", name="Deployment #")).to_be_visible()
    # Mark this page load: if the page reloaded, the mark would be gone.
    page.evaluate("window.sameLoad = true")

    expect(page.locator("#state [data-state=running]")).to_be_visible(timeout=180_000)
    expect(page.locator("#log")).to_contain_text("==> Healthy after")
    expect(page.locator("#log")).to_contain_text("==> Running at http://hello-production.localhost:")
    assert page.evaluate("window.sameLoad") is True
    deployment = Deployment.objects.get(service__name="hello")
    assert page.locator("#log span").count() == deployment.log_size

    page.locator("#url a.url").click()
    expect(page.locator("body")).to_have_text("hello from python-dockerfile v1")

    page.goto(live_server.url + "/")
    row = page.locator("tr[data-service=hello]")
    expect(row.locator("[data-state=running]")).to_be_visible()
    expect(row.locator("a.url")).to_have_text(service_url(deployment.service))

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign In")).to_be_visible()
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Your own cloud for services")).to_be_visible()


def test_a_bad_url_in_the_form_is_refused_with_a_reason(live_server, page, alice, transactional_db):
    log_in(page, live_server.url, "alice@example.com", "alice-password-1")
    page.get_by_label("Repository URL").fill("ext::sh -c id")
    page.get_by_label("Service name").fill("evil")
    page.get_by_role("button", name="Deploy").click()
    expect(page.get_by_text("contains spaces or characters that are not allowed")).to_be_visible()
    assert not Deployment.objects.exists()
