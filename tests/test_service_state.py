"""A service's state is named once (deployments.queries.service_state): the dashboard, an
environment's page, the service's page, the API and the real CLI say the same words.

They used to disagree: the dashboard named the newest deployment's state, the API the
live one's, so a failed redeploy showed "failed" on one and "running" on the other.
"""

import re
from html.parser import HTMLParser

from django.test import Client

from api import tokens
from deployments.models import Deployment, Service
from environments.models import Environment
from tests.test_cli import M3O

State = Deployment.State


class _StateCells(HTMLParser):
    """The text of each row's <span class="service-state">, by the row's data-service."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] = {}
        self._row = None
        self._depth = 0  # spans open inside the state span; 0: outside it

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-service" in attrs:
            self._row = attrs["data-service"]
        elif tag == "span" and self._depth:
            self._depth += 1
        elif tag == "span" and "service-state" in (attrs.get("class") or "").split():
            self._depth = 1
            self._row = self._row or "the service page's own"
            self.found[self._row] = ""

    def handle_endtag(self, tag):
        if tag == "span" and self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.found[self._row] += data


def shown_on(client: Client, url: str) -> dict[str, str]:
    page = client.get(url)
    assert page.status_code == 200
    cells = _StateCells()
    cells.feed(page.content.decode())
    return {name: " ".join(text.split()) for name, text in cells.found.items()}


def said_everywhere(client, api, cli, environment, name: str) -> str:
    """The state of `name` as the dashboard, the environment page, the API and the CLI say it."""
    dashboard = shown_on(client, "/")[name]
    on_environment_page = shown_on(client, f"/environments/{environment.pk}/")[name]
    (answer,) = api.get("/api/services/", {"environment": environment.pk, "name": name}).json()["results"]
    (on_service_page,) = shown_on(client, f"/services/{answer['id']}/").values()
    detail = api.get(f"/api/services/{answer['id']}/").json()
    first_line = cli.ok("status", name, "--env", environment.name).splitlines()[0]
    from_cli = re.fullmatch(rf"{name} in {environment.name}: (.*)", first_line)[1]
    said = {dashboard, on_environment_page, on_service_page, answer["status"], detail["status"], from_cli}
    assert len(said) == 1, (
        f"{name}: dashboard {dashboard!r}, environment page {on_environment_page!r}, service page "
        f"{on_service_page!r}, API {answer['status']!r} / {detail['status']!r}, CLI {from_cli!r}"
    )
    return dashboard


def test_dashboard_api_and_cli_name_a_services_state_alike(live_server, alice, tmp_path):
    production = Environment.objects.create(owner=alice, name="production")
    web = Service.objects.create(
        environment=production, name="web", repository_url="https://example.com/w.git"
    )
    api_service = Service.objects.create(
        environment=production, name="api", repository_url="https://example.com/a.git"
    )
    Service.objects.create(environment=production, name="worker", repository_url="https://example.com/k.git")
    live = Deployment.objects.create(service=web, state=State.RUNNING, host_port=9)
    web.live_deployment = live
    web.save()
    failed = Deployment.objects.create(service=web, state=State.FAILED)
    only = Deployment.objects.create(service=api_service, state=State.FAILED)

    client = Client()
    client.force_login(alice)
    _, raw = tokens.create_token(alice, "test")
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    cli = M3O(tmp_path / "config", live_server.url)
    cli.ok("login", "--url", live_server.url, "--token", raw)

    # Live, and a newer deployment failed: what serves is said first, the failure beside it.
    assert said_everywhere(client, api, cli, production, "web") == (
        f"running (deployment #{live.pk}), #{failed.pk} failed"
    )
    # Live, and a newer one is being built.
    building = Deployment.objects.create(service=web, state=State.BUILDING)
    assert said_everywhere(client, api, cli, production, "web") == (
        f"running (deployment #{live.pk}), deploying #{building.pk} (building)"
    )
    # Nothing live: the newest deployment's state; never deployed: said so.
    assert said_everywhere(client, api, cli, production, "api") == f"failed (deployment #{only.pk})"
    assert said_everywhere(client, api, cli, production, "worker") == "not deployed"
    # The plain state stays the live deployment's, for scripts.
    (answer,) = api.get("/api/services/", {"name": "web"}).json()["results"]
    assert (answer["state"], answer["live_deployment"], answer["newest_deployment"]) == (
        "running",
        live.pk,
        building.pk,
    )
