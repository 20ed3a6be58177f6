"""Pages follow the platform's state without a reload (static/js/live.js), with a real worker.

Each deployment first waits on a queue no worker reads, so the pages are seen in
its queued state for certain; then it is let go to the worker and the same page
loads (marked, so a reload would show) must change on their own.
"""

import pytest
from playwright.sync_api import expect

from deployments import actions
from deployments.models import Deployment
from tests.browser import log_in
from tests.conftest import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.browser]
pytest_plugins = ["tests.queues"]  # deploy_queue: deployments wait there until let go


def let_go(held_on, worker, settings) -> None:
    """Send what waits on the test's queue to the worker, as the broker would have."""
    held = held_on.deployments()
    assert held, "nothing was waiting"
    queue, settings.DEPLOY_QUEUE = settings.DEPLOY_QUEUE, worker.queue
    for deployment_id in held:
        actions.enqueue(deployment_id)
    settings.DEPLOY_QUEUE = queue


def same_load(page) -> None:
    page.evaluate("window.sameLoad = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.sameLoad") is True


def test_states_buttons_messages_and_logs_change_without_a_reload(
    worker, deploy_queue, live_server, page, alice, make_repo, settings
):
    repo = make_repo("ticker")
    queued = actions.deploy_repository(alice, name="ticker", repository_url=repo.url)
    log_in(page, live_server.url, "alice@example.com", "alice-password-1")
    environment = page.context.new_page()
    environment.goto(f"{live_server.url}/environments/{queued.service.environment_id}/")
    row = environment.locator("tr[data-service=ticker]")
    expect(row.locator("[data-state=queued]")).to_be_visible()
    expect(row.locator("td").nth(4)).to_have_text("")  # Deployed: not yet
    same_load(environment)
    page.goto(live_server.url + "/")
    same_load(page)

    let_go(deploy_queue, worker, settings)
    assert wait_for(queued).state == Deployment.State.RUNNING
    expect(page.locator("tr[data-service=ticker] [data-state=running]")).to_be_visible()
    expect(page.locator("tr[data-service=ticker] a.url")).to_be_visible()
    assert_not_reloaded(page)
    expect(row.locator("[data-state=running]")).to_be_visible()
    expect(row.locator("td").nth(4)).to_contain_text("ago")
    assert_not_reloaded(environment)

    # The service page: its runtime log, followed, shows each line once (it used to
    # repeat the last line about once a second).
    environment.goto(f"{live_server.url}/services/{queued.service_id}/")
    ticks = environment.locator("#runtime-log span", has_text="tick ")
    expect(ticks.nth(11)).to_be_attached(timeout=30_000)
    same_load(environment)
    shown = [int(text.split()[1]) for text in ticks.all_text_contents()]
    assert shown == list(range(shown[0], shown[0] + len(shown))), shown

    # Deploy again from the service page: the deployment page says it is queued and
    # offers to cancel; once it runs, both go, and the service page follows.
    page.goto(f"{live_server.url}/services/{queued.service_id}/")
    page.get_by_role("button", name="Deploy again").click()
    expect(page.get_by_text("Deployment queued.")).to_be_visible()
    cancel = page.get_by_role("button", name="Cancel this deployment")
    expect(cancel).to_be_visible()
    expect(page.locator("#state [data-state=queued]")).to_be_visible()
    same_load(page)
    second = Deployment.objects.exclude(pk=queued.pk).get(service=queued.service)
    listed = environment.locator(f"tr[data-deployment='{second.pk}']")
    expect(listed.get_by_role("button", name="Cancel")).to_be_visible()

    let_go(deploy_queue, worker, settings)
    expect(page.locator("#state [data-state=running]")).to_be_visible(timeout=120_000)
    expect(cancel).to_have_count(0)
    expect(page.get_by_text("Deployment queued.")).to_have_count(0)
    assert_not_reloaded(page)
    expect(listed.locator("[data-state=running]")).to_be_visible()
    expect(listed.get_by_role("button", name="Cancel")).to_have_count(0)
    first = environment.locator(f"tr[data-deployment='{queued.pk}']")
    expect(first.locator("[data-state=superseded]")).to_be_visible()
    assert_not_reloaded(environment)
