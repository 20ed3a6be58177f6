"""How the site looks and reads, in Chromium: every page on a phone, the home page,
the words on onboarding and the dashboard, errors beside their fields, copy buttons.

No deploys: the services and deployments a page shows are rows made here directly.
"""

import re

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import expect

from billing import seed
from billing.models import Plan
from deployments import variables
from deployments.models import Deployment, Instance, LogLine, Process, Service, Variable
from environments.actions import get_or_create_environment
from environments.models import Environment
from tests.browser import log_in

pytestmark = [pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
ERROR_RED = "rgb(145, 32, 24)"  # static/css/portal.css: every error, the site's and allauth's
LONG = "a-commit-message-without-spaces-that-would-push-a-table-past-the-edge-of-a-phone-screen"


@pytest.fixture
def seeded(alice, transactional_db, settings, live_server):
    """Alice's dashboard as a person who has used it for a while would see it."""
    settings.SITE_URL = live_server.url
    seed.ensure(Plan)  # a transactional test starts without the migration's plans
    now = timezone.now()
    production = get_or_create_environment(alice)
    staging = Environment.objects.create(
        owner=alice, name="staging-for-the-team", kind="staging", description="Where changes wait. " * 5
    )
    web = Service.objects.create(
        environment=production, name="web-frontend-service", branch="main",
        repository_url="https://github.com/alice/a-repository-with-a-rather-long-name.git",
        start_command="gunicorn app.wsgi --workers 4 --bind 0.0.0.0:8080 --access-logfile -",
    )  # fmt: skip
    running = Deployment.objects.create(
        service=web, requested_by=alice, state="running", branch="main", commit_sha="a1b2c3d4" * 5,
        commit_message=LONG, commit_author="Alice Example", image="none", host_port=1,
        started_at=now, healthy_at=now, finished_at=now, log_complete=True,
    )  # fmt: skip
    web.live_deployment = running
    web.save(update_fields=["live_deployment"])
    for name, replicas in (("web", 3), ("queue-worker-with-a-long-name", 2)):  # the Processes table
        process = Process.objects.create(deployment=running, name=name, replicas=replicas, command=LONG)
        for index in range(replicas):
            Instance.objects.create(process=process, index=index, state="running", restarts=index)
    failed = Deployment.objects.create(
        service=web, requested_by=alice, state="failed", branch="main", log_complete=True,
        failure_reason="The Tight plan allows 2 services; this would be service 3. "
        f"Upgrade at {live_server.url}/billing/",
    )  # fmt: skip
    LogLine.objects.create(deployment=failed, seq=1, text="==> " + LONG * 2)
    variables.set_variable(web, "DATABASE_URL", "postgres://user@db.internal:5432/" + "x" * 120)
    api = Service.objects.create(
        environment=staging, name="api", branch="main", repository_url="https://git.example.org/team/api.git"
    )
    return {"production": production, "staging": staging, "web": web, "api": api, "failed": failed}


# What a person on a phone would trip over, measured in the page in one go: the
# page wider than the screen, or a link of the top bar off it, covered, or the
# colour of the bar itself.
PHONE_PROBLEMS = """width => {
  const problems = [];
  const wide = document.documentElement.scrollWidth;
  if (wide > width) problems.push(`the page is ${wide} px wide`);
  const bar = document.querySelector("header.top");
  const items = bar ? [...bar.querySelectorAll("a, button")] : [];
  if (items.length < 2) problems.push("there is no navigation");
  const background = bar && getComputedStyle(bar).backgroundColor;
  for (const item of items) {
    const name = item.textContent.trim();
    const r = item.getBoundingClientRect();
    if (!r.width || r.x < 0 || r.right > width) { problems.push(`${name} is off the screen`); continue; }
    const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    if (hit !== item && !item.contains(hit)) problems.push(`${name} is covered`);
    if (getComputedStyle(item).color === background) problems.push(`${name} is the colour of the bar`);
  }
  return problems;
}"""


def fits_a_phone(page, where: str) -> None:
    assert page.evaluate(PHONE_PROBLEMS, PHONE["width"]) == [], where


def test_every_page_fits_a_phone_and_its_navigation_works(browser, page, seeded, live_server, settings):
    page.set_viewport_size(PHONE)
    base = live_server.url
    for path in ["/", "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]:
        assert page.goto(base + path).ok, path
        fits_a_phone(page, path)

    log_in(page, base, "alice@example.com", "alice-password-1")
    web, failed = seeded["web"], seeded["failed"]
    pages = [
        "/",
        f"/environments/{seeded['production'].pk}/",
        f"/environments/{seeded['staging'].pk}/",
        "/environments/new/",
        f"/services/{web.pk}/",
        f"/services/{seeded['api'].pk}/",
        f"/services/{web.pk}/settings/",
        f"/services/{web.pk}/cron/",
        f"/deployments/{failed.pk}/",
        f"/deployments/{web.live_deployment_id}/",
        "/accounts/email/",
        "/accounts/password/change/",
        "/accounts/2fa/",
        "/accounts/welcome/",
        "/accounts/github/repositories/",
        "/api/tokens/",
        "/billing/",
        "/device/",
        "/cli/",
    ]
    for path in pages:
        assert page.goto(base + path).ok, path
        fits_a_phone(page, path)

    # A wide table scrolls inside its own box rather than widening the page.
    page.goto(f"{base}/services/{web.pk}/")
    table = page.locator("#deployments")
    assert table.evaluate("e => e.scrollWidth > e.clientWidth"), "the table should scroll inside its box"
    # The page that asks before a Stop.
    page.locator("#service").get_by_role("button", name="Stop").click()
    expect(page.get_by_role("button", name=f"Stop {web.name}")).to_be_visible()
    fits_a_phone(page, "the confirmation page")

    # The same with a new token on show, and with plans on sale.
    page.goto(base + "/api/tokens/")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_be_visible()
    fits_a_phone(page, "the tokens page with a new token")
    Plan.objects.filter(slug="pro").update(stripe_price_id="price_pro")
    page.goto(base + "/billing/")
    expect(page.locator("#limits")).to_be_visible()
    fits_a_phone(page, "the plan page with billing on")

    # The API docs are Swagger's page: it fits, and has a way back.
    page.goto(base + "/api/docs/")
    expect(page.locator(".swagger-ui .info")).to_be_visible()
    fits_a_phone(page, "/api/docs/")
    page.get_by_role("link", name="Back to the dashboard").click()
    expect(page.get_by_role("heading", name="Services")).to_be_visible()


def test_form_errors_sit_beside_their_fields_with_what_was_typed(page, seeded, live_server, settings):
    settings.ALLOW_LOCAL_REPOSITORIES = False  # as in production
    web = seeded["web"]
    # allauth's pages show their errors in the same style as ours.
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill("not her password")
    page.get_by_role("button", name="Sign In").click()
    refused = page.locator("main ul.errorlist")
    expect(refused).to_contain_text("not correct")
    assert refused.evaluate("e => getComputedStyle(e).color") == ERROR_RED
    expect(page.get_by_label("Email")).to_have_value("alice@example.com")
    log_in(page, live_server.url, "alice@example.com", "alice-password-1")
    page.goto(f"{live_server.url}/services/{web.pk}/")
    form = page.locator("form.variable-form")
    # The field's maxlength stops typing at 100; a 200-character name still arrives from
    # a pasted script or an old page, and must be told what is wrong.
    form.get_by_label("Name").evaluate("e => { e.removeAttribute('maxlength'); e.value = 'N'.repeat(200); }")
    form.get_by_label("Value").fill("kept")
    form.get_by_role("button", name="Save variable").click()
    name = page.locator("form.variable-form").get_by_label("Name")
    expect(name).to_have_attribute("aria-invalid", "true")
    error = page.locator("form.variable-form ul.errorlist")
    expect(error).to_have_text("The name is too long: 100 characters at most (it has 200).")
    assert error.evaluate("e => getComputedStyle(e).color") == ERROR_RED
    expect(page.locator("form.variable-form").get_by_label("Value")).to_have_value("kept")
    expect(page.locator("p.message")).to_have_count(0)  # not at the top of the page
    assert not Variable.objects.filter(service=web, key__startswith="NNN").exists()

    # A name the platform keeps: the reason beside the name, the value still typed.
    form = page.locator("form.variable-form")
    form.get_by_label("Name").fill("PORT")
    form.get_by_role("button", name="Save variable").click()
    expect(page.locator("form.variable-form ul.errorlist")).to_have_text(
        "PORT is set by the platform and cannot be changed."
    )
    expect(page.locator("form.variable-form").get_by_label("Name")).to_have_value("PORT")

    # The environment page's forms do the same.
    page.goto(f"{live_server.url}/environments/{seeded['production'].pk}/")
    deploy = page.locator("form.deploy-form")
    deploy.get_by_label("Repository URL").fill("http://127.0.0.1:6379/x/y.git")
    deploy.get_by_label("Service name").fill("cache")
    deploy.get_by_role("button", name="Deploy").click()
    expect(page.locator("form.deploy-form ul.errorlist")).to_have_text(
        "Only https:// repository URLs are supported."
    )
    expect(page.locator("form.deploy-form").get_by_label("Service name")).to_have_value("cache")
    colour = page.locator("form.deploy-form ul.errorlist").evaluate("e => getComputedStyle(e).color")
    assert colour == ERROR_RED, "one error style: dark red on pale red"

    # A private address over https was accepted and sat in "cloning" until the clone timed out.
    deploy = page.locator("form.deploy-form")
    deploy.get_by_label("Repository URL").fill("https://127.0.0.1:6379/x/y.git")
    deploy.get_by_role("button", name="Deploy").click()
    expect(page.locator("form.deploy-form ul.errorlist")).to_have_text(
        "The repository host 127.0.0.1 is on a private network; use a public address."
    )
    assert not Service.objects.filter(name="cache").exists()


def test_first_impressions_home_page_words_webhook_box_plan_and_token_copy(
    page, seeded, bob, live_server, settings
):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Your own cloud for services")).to_be_visible()
    expect(page.locator("#home")).to_contain_text("Git repository")
    icon = page.locator("link[rel=icon]").get_attribute("href")
    answer = requests.get(live_server.url + icon, timeout=10)
    assert answer.ok
    assert answer.headers["Content-Type"] == "image/svg+xml"
    page.locator("#home").get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Sign Up")).to_be_visible()
    page.goto(live_server.url + "/")
    page.locator("#home").get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign In")).to_be_visible()

    # A newcomer where GitHub is not set up is not offered it, nor told about settings.
    settings.GITHUB_CLIENT_ID = ""
    log_in(page, live_server.url, "bob@example.com", "bob-password-1")
    expect(page.get_by_role("heading", name="Welcome to M3O")).to_be_visible()
    body = page.locator("main").inner_text()
    assert "GITHUB_CLIENT_ID" not in body
    assert "GitHub" not in body
    expect(page.locator("header.top").get_by_role("link", name="GitHub")).to_have_count(0)
    expect(page.get_by_label("Repository URL")).to_be_visible()
    page.goto(live_server.url + "/accounts/github/repositories/")
    assert "GITHUB_CLIENT_ID" not in page.locator("main").inner_text()
    page.get_by_role("button", name="Log out").click()

    log_in(page, live_server.url, "alice@example.com", "alice-password-1")
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Services")).to_be_visible()
    # Each environment is named once: "production production" said its kind again.
    environments = page.locator("ul.environments li")
    expect(environments.filter(has_text="production").first).to_have_text("production")
    expect(environments.filter(has_text="staging-for-the-team")).to_have_text("staging-for-the-team staging")

    # How to add a push webhook on GitHub, with its secret: only for a repository on GitHub.
    page.goto(f"{live_server.url}/services/{seeded['web'].pk}/")
    expect(page.locator("#webhook")).to_contain_text("Add a webhook on GitHub")
    expect(page.locator("#webhook")).to_contain_text(f"{live_server.url}/hooks/github/")
    page.goto(f"{live_server.url}/services/{seeded['api'].pk}/")
    expect(page.get_by_role("heading", name="api")).to_be_visible()
    expect(page.locator("#webhook")).to_have_count(0)

    # A refusal links to the plan page, which says billing is off and shows usage only.
    page.goto(f"{live_server.url}/deployments/{seeded['failed'].pk}/")
    page.locator("#failure").get_by_role("link", name=f"{live_server.url}/billing/").click()
    expect(page.get_by_role("heading", name="Your usage")).to_be_visible()
    expect(page.locator("#billing-off")).to_contain_text("Billing is off on this installation")
    expect(page.locator("#usage tr", has_text="Services")).to_contain_text("2")
    expect(page.get_by_text("Allowed")).to_have_count(0)
    # Once a plan is sold, every limit shows its use beside what is allowed, and a way up.
    Plan.objects.filter(slug="pro").update(stripe_price_id="price_pro")
    page.reload()
    services = page.locator("#limits tr[data-limit=Services]")
    expect(services).to_contain_text(re.compile(r"Services\s+2\s+\d+"))
    services.get_by_role("link", name="Upgrade").click()
    expect(page.locator("#plans button", has_text="Choose Pro")).to_be_in_viewport()

    # A new token is shown once: a button copies it.
    page.goto(live_server.url + "/api/tokens/")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("[data-token]").inner_text()
    page.locator("#new-token").get_by_role("button", name="Copy").first.click()
    expect(page.locator("#new-token").get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == token
