"""A service from a failed first deploy to its deletion, in Chromium: settings mend it, destructive
actions ask first, and new variables restart what runs after a rollback instead of rebuilding."""

import re

import pytest
import requests
from django.urls import reverse
from playwright.sync_api import expect

from deployments.models import Deployment, Service
from environments.actions import get_or_create_environment
from tests.browser import log_in

pytestmark = [pytest.mark.docker, pytest.mark.browser]
RUNNING = "#state [data-state=running]"


def test_a_service_from_a_failed_deploy_to_its_deletion(worker, live_server, page, alice, make_repo):
    repo = make_repo("ticker")
    production = get_or_create_environment(alice, "production")
    log_in(page, live_server.url, "alice@example.com", "alice-password-1")

    # A typo'd branch: the first deploy fails, and the service is not a dead end.
    page.get_by_label("Repository URL").fill(repo.url)
    page.get_by_label("Service name").fill("web")
    page.get_by_label("Branch").fill("nope")
    expect(page.get_by_role("combobox", name="Environment")).to_have_value(str(production.pk))
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator("#state [data-state=failed]")).to_be_visible(timeout=120_000)
    web = Service.objects.get(name="web")
    page.goto(live_server.url + reverse("service", args=[web.pk]))
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Branch").fill("main")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Saved: branch.")).to_be_visible()
    page.get_by_role("link", name="web", exact=True).click()
    page.get_by_role("button", name="Deploy again").click()
    expect(page.locator(RUNNING)).to_be_visible(timeout=180_000)
    first = web.deployments.get(state="running")
    assert first.branch == "main"

    # v2, then roll back to v1: the rollback asks first.
    repo.commit("v2", {"main.py": (repo.path / "main.py").read_text().replace("ticker v1", "ticker v2")})
    page.get_by_role("link", name="web", exact=True).click()
    page.get_by_role("button", name="Deploy again").click()
    expect(page.locator(RUNNING)).to_be_visible(timeout=180_000)
    page.get_by_role("link", name="web", exact=True).click()
    page.locator(f"tr[data-deployment='{first.pk}']").get_by_role("button", name="Roll back to this").click()
    expect(page.get_by_role("heading", name=f"Roll web back to deployment #{first.pk}?")).to_be_visible()
    page.get_by_role("button", name=f"Roll back to #{first.pk}").click()
    expect(page.locator(RUNNING)).to_be_visible(timeout=180_000)
    expect(page.locator("#log")).to_contain_text(f"Using the image of deployment #{first.pk}")

    # New variables restart the rolled-back image: v1 answers, with the variable.
    page.get_by_role("link", name="web", exact=True).click()
    page.get_by_label("Name").fill("GREETING")
    page.get_by_label("Value").fill("hello")
    page.get_by_role("button", name="Save variable").click()
    page.get_by_role("button", name="Redeploy now with the new variables").click()
    expect(page.locator(RUNNING)).to_be_visible(timeout=180_000)
    live = Service.objects.get(pk=web.pk).live_deployment
    assert live.image == first.image
    assert requests.get(live.url, timeout=5).text == "ticker v1 hello"
    built = Deployment.objects.filter(service=web, source__isnull=True).exclude(state="failed").count()
    assert built == 2  # nothing was rebuilt for the rollback or the variables

    # Stop asks first; Cancel on the question leaves it running.
    page.get_by_role("link", name="web", exact=True).click()
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(page.get_by_role("heading", name="Stop web?")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("button", name="Stop", exact=True)).to_be_visible()
    assert Service.objects.get(pk=web.pk).live_deployment.state == "running"
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_role("button", name="Stop web").click()
    expect(page.get_by_text("web stopped.")).to_be_visible()

    # Delete wants the name typed.
    page.get_by_role("link", name="web", exact=True).click()
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Type the service's name to confirm").fill("wbe")
    page.get_by_role("button", name="Delete web").click()
    expect(page.get_by_text("Type web exactly to delete it.")).to_be_visible()
    page.get_by_label("Type the service's name to confirm").fill("web")
    page.get_by_role("button", name="Delete web").click()
    expect(page.get_by_text(re.compile("web deleted from production"))).to_be_visible()
    assert not Service.objects.filter(pk=web.pk).exists()
