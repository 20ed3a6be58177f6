"""Sign in with GitHub (the local fake), pick a private repository and deploy it, in a real browser."""

import base64

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from playwright.sync_api import expect

from deployments.models import Deployment, LogLine, Service
from tests.browser import log_in

pytest_plugins = ["tests.fakes.github"]
pytestmark = [pytest.mark.browser]


@pytest.mark.docker
def test_sign_in_with_github_pick_a_private_repository_and_deploy_it(
    github_worker,
    fake_github,
    live_server,
    page,
):
    carol = fake_github.add_user("carol", "carol@example.com", "Carol Coder")
    fake_github.add_repository(carol, "site", app="static-site", private=True, language="HTML")
    fake_github.add_repository(carol, "notes", language="Markdown")

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="GitHub", exact=True).click()
    # allauth asks before leaving for GitHub (SOCIALACCOUNT_LOGIN_ON_GET is off).
    expect(page.get_by_role("heading", name="Sign In Via GitHub")).to_be_visible()
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Welcome to M3O")).to_be_visible()
    expect(page.locator("header .who")).to_have_text("carol@example.com")
    assert EmailAddress.objects.get(email="carol@example.com").verified
    page.get_by_role("link", name="Pick a repository").click()

    expect(page.get_by_role("heading", name="Your GitHub repositories")).to_be_visible()
    row = page.locator("tr[data-repository='carol/site']")
    expect(row).to_contain_text("private")
    expect(row).to_contain_text("main")
    expect(row).to_contain_text("HTML")
    expect(page.locator("tr[data-repository='carol/notes']")).to_contain_text("public")
    row.get_by_role("link", name="Choose").click()

    expect(page.get_by_role("heading", name="Deploy carol/site")).to_be_visible()
    expect(page.get_by_label("Branch")).to_have_value("main")
    expect(page.get_by_label("Service name")).to_have_value("site")
    # A new user has no environment yet: a new one, called production, is offered.
    expect(page.locator("select#id_environment")).to_have_value("new")
    expect(page.get_by_label("New environment's name")).to_have_value("production")
    page.get_by_role("button", name="Deploy").click()

    expect(page.get_by_role("heading", name="Deployment #")).to_be_visible()
    expect(page.locator("#state [data-state=running]")).to_be_visible(timeout=180_000)
    page.locator("#url a.url").click()
    expect(page.locator("h1")).to_have_text("hello from static-site")

    service = Service.objects.get(name="site")
    assert (service.github_repository, service.is_private) == ("carol/site", True)
    [hook] = fake_github.hooks
    assert hook["repository"] == "carol/site"
    assert hook["events"] == ["push"]
    assert hook["config"]["url"] == f"{settings.SITE_URL}/hooks/github/"
    assert hook["config"]["secret"] == service.webhook_secret
    assert service.webhook_id == hook["id"]

    # The token went to GitHub in headers only: never in a URL, a log line or a page.
    basic = base64.b64encode(f"x-access-token:{carol.token}".encode()).decode()
    assert not [r for r in fake_github.requests if carol.token in r.path or basic in r.path]
    assert fake_github.seen("/git/carol/site.git/git-upload-pack")
    deployment = Deployment.objects.get(service=service)
    texts = [*LogLine.objects.filter(deployment=deployment).values_list("text", flat=True)]
    assert not [t for t in [*texts, deployment.failure_reason] if carol.token in t or basic in t]
    page.goto(f"{live_server.url}/deployments/{deployment.pk}/")
    assert carol.token not in page.content()


def test_a_user_who_signed_up_by_email_connects_github_from_the_picker(
    fake_github,
    live_server,
    page,
    alice,
    transactional_db,
):
    octo = fake_github.add_user("octo", "alice@github.example")
    fake_github.add_repository(octo, "api", language="Go")
    log_in(page, live_server.url, "alice@example.com", "alice-password-1")

    page.goto(f"{live_server.url}/accounts/github/repositories/")
    # A form posts straight to GitHub: no confirmation page in between.
    page.get_by_role("button", name="Connect GitHub").click()

    expect(page.get_by_text("The third-party account has been connected.")).to_be_visible()
    expect(page.locator("tr[data-repository='octo/api']")).to_contain_text("Go")
    expect(page.locator("header .who")).to_have_text("alice@example.com")
