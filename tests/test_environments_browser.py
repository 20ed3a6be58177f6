"""A personal environment from the form: copy, watch it deploy live, runtime logs, rollback, delete."""

import re

import pytest
import requests
from playwright.sync_api import expect

from deployments import actions
from deployments.models import Deployment
from environments.models import Environment
from tests import own
from tests.browser import log_in
from tests.conftest import log_text, wait_for
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.browser]


def test_personal_environment_from_copy_to_deletion(worker, live_server, page, alice, make_repo):
    production = wait_for(
        actions.deploy_repository(alice, name="web", repository_url=make_repo("ticker").url)
    )
    assert production.state == "running", log_text(production)
    log_in(page, live_server.url, "alice@example.com", "alice-password-1")

    page.get_by_role("link", name="New environment").click()
    page.get_by_label("Name").fill("dev-alice")
    page.get_by_label("Kind").select_option("personal")
    page.get_by_label("Copy from").select_option(label="production")
    page.get_by_label("Time to live (hours)").fill("4")
    page.get_by_role("button", name="Create environment").click()
    expect(page.get_by_role("heading", name=re.compile("^dev-alice"))).to_be_visible()
    page.evaluate("window.sameLoad = true")
    row = page.locator("tr[data-service=web]")
    expect(row.locator("[data-state=running]")).to_be_visible(timeout=180_000)
    expect(row.locator("a.url")).to_have_text(re.compile(r"^http://web-dev-alice\.localhost:\d+/$"))
    assert page.evaluate("window.sameLoad") is True, "the page reloaded instead of updating"
    dev = Environment.objects.get(name="dev-alice")

    # Runtime logs: a line the app prints after the page is open shows up.
    row.get_by_role("link", name="web", exact=True).click()
    expect(page.locator("#runtime-log")).to_contain_text("tick")
    first = Deployment.objects.get(service__environment=dev)
    requests.get(first.url + "printed-after-the-page-opened", timeout=5)
    expect(page.locator("#runtime-log")).to_contain_text("request /printed-after-the-page-opened")
    page.locator("#log-filter").fill("printed-after")
    expect(page.locator("#runtime-log")).not_to_contain_text("tick")
    expect(page.locator("#runtime-log")).to_contain_text("request /printed-after-the-page-opened")

    # A second deployment, then roll back to the first.
    page.get_by_role("button", name="Deploy again").click()
    expect(page.locator("#state [data-state=running]")).to_be_visible(timeout=180_000)
    page.get_by_role("link", name="web", exact=True).click()
    page.locator(f"tr[data-deployment='{first.pk}']").get_by_role("button", name="Roll back to this").click()
    page.get_by_role("button", name=f"Roll back to #{first.pk}").click()  # the question it asks first
    expect(page.locator("#state [data-state=running]")).to_be_visible(timeout=180_000)
    expect(page.locator("#log")).to_contain_text(f"Using the image of deployment #{first.pk}")

    # Delete the environment: everything of it goes from the engine.
    page.get_by_role("link", name="web", exact=True).click()
    page.get_by_role("link", name="dev-alice", exact=True).click()
    # A page of its own that wants the name typed (no JavaScript confirm(): a dialog would
    # be dismissed here and nothing deleted).
    page.get_by_role("link", name="Delete environment").click()
    page.get_by_label("Type the environment's name to confirm").fill("dev-alic")
    page.get_by_role("button", name="Delete dev-alice").click()
    expect(page.get_by_text("Type dev-alice exactly to delete it.")).to_be_visible()
    assert not Environment.objects.get(pk=dev.pk).is_deleted
    page.get_by_label("Type the environment's name to confirm").fill("dev-alice")
    page.get_by_role("button", name="Delete dev-alice").click()
    expect(page.get_by_text("dev-alice deleted")).to_be_visible()
    # The worker removes what the deleted environment ran, after the deletion is committed.
    eventually(
        lambda: own.containers(environment=dev.pk) == [] and own.networks(dev.pk) == {},
        timeout=60,
        message="the deleted environment's containers or network are still there",
    )
    production.refresh_from_db()
    assert production.state == "running"
