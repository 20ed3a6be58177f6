"""The README's screenshots, taken by `scripts/screenshots.py` (not part of `make test`).

The same Chromium, live server and seeded rows as tests/test_look_browser.py:
the dashboard, a service page and its settings page, at desktop and phone width.
"""

import os
from pathlib import Path

import pytest
from django.urls import NoReverseMatch, reverse

from tests.browser import log_in
from tests.test_look_browser import PHONE, seeded  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser]

DESKTOP = {"width": 1280, "height": 800}
OUT = Path(os.environ.get("SCREENSHOTS_DIR", "docs/screenshots"))


def pages(web) -> dict[str, str]:
    shown = {"dashboard": reverse("dashboard"), "service": reverse("service", args=[web.pk])}
    try:
        shown["settings"] = reverse("service-settings", args=[web.pk])
    except NoReverseMatch:
        pytest.fail("There is no service settings page to show.")
    return shown


def test_take_screenshots(page, seeded, live_server):  # noqa: F811
    OUT.mkdir(parents=True, exist_ok=True)
    log_in(page, live_server.url, "alice@example.com", "alice-password-1")
    for name, path in pages(seeded["web"]).items():
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            page.goto(live_server.url + path)
            target = OUT / f"{name}-{size}.png"
            page.screenshot(path=target)
            assert target.stat().st_size < 150_000, f"{target} is too large for the README"
