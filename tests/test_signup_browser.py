"""A newcomer signs up with email, verifies it from the sent mail, deploys, logs out."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser import log_in

pytestmark = [pytest.mark.docker, pytest.mark.browser]


def confirmation_link(mail_dir, site_url: str) -> str:
    (message,) = list(mail_dir.iterdir())
    text = message.read_text()
    assert "Subject: [M3O] Please Confirm Your Email Address" in text
    # In the product's name and at SITE_URL, not "Hello from 127.0.0.1:8000!".
    assert "Hello from M3O!" in text
    return re.search(re.escape(site_url) + r"/accounts/confirm-email/\S+/", text).group(0)


def test_sign_up_verify_log_in_deploy_and_log_out(worker, live_server, page, settings, tmp_path, make_repo):
    # pytest-django swaps in a memory mailbox; use the files our settings default to.
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    settings.SITE_URL = live_server.url
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Sign up", exact=True).click()
    page.get_by_label("Email").fill("carol@example.com")
    page.locator("#id_password1").fill("a long passphrase 42")
    page.locator("#id_password2").fill("a long passphrase 42")
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()

    # Unverified, the dashboard stays closed: the address shows the home page.
    log_in_attempt = page.goto(live_server.url + "/")
    assert log_in_attempt.ok
    expect(page.get_by_role("heading", name="Your own cloud for services")).to_be_visible()

    page.goto(confirmation_link(tmp_path / "mail", live_server.url))
    page.get_by_role("button", name="Confirm").click()
    log_in(page, live_server.url, "carol@example.com", "a long passphrase 42")
    expect(page.get_by_role("heading", name="Welcome to M3O")).to_be_visible()

    page.get_by_label("Repository URL").fill(make_repo("static-site").url)
    page.get_by_label("Service name").fill("site")
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator("#state [data-state=running]")).to_be_visible(timeout=180_000)

    page.get_by_role("link", name="Services").click()
    row = page.locator("tr[data-service=site]")
    expect(row.locator("[data-state=running]")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign In")).to_be_visible()
