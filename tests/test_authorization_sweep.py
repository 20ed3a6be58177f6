"""Every URL of the site that takes an object's id refuses everyone but its owner.

The sweep walks the URL configuration itself, so a new page with an id in its
path is covered (or fails here until someone says which object it takes).
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from deployments import actions

# Which object a URL parameter names; a new id parameter must be added here.
OBJECT_OF_PARAMETER = {
    "service_id": lambda deployment: deployment.service_id,
    "deployment_id": lambda deployment: deployment.pk,
    "environment_id": lambda deployment: deployment.service.environment_id,
}
# Apps whose URLs are not ours: Django's admin (staff only) and allauth's
# account pages (keys in their paths are secrets, not ids).
SKIPPED_NAMESPACES = {"admin"}
SKIPPED_PREFIXES = ("admin/", "accounts/")


def id_patterns(resolver=None, prefix=""):
    """(route, name, parameter names) of every named pattern with an int parameter."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if entry.namespace in SKIPPED_NAMESPACES or route.startswith(SKIPPED_PREFIXES):
                continue
            yield from id_patterns(entry, route)
        elif isinstance(entry, URLPattern):
            converters = entry.pattern.converters
            ints = [name for name, conv in converters.items() if type(conv).__name__ == "IntConverter"]
            if ints and not route.startswith(SKIPPED_PREFIXES):
                yield route, entry.name, ints


ROUTES = sorted(id_patterns())


def test_the_sweep_finds_the_pages_it_should():
    names = {name for _, name, _ in ROUTES}
    assert {"service", "deployment", "deployment-log", "redeploy"} <= names


@pytest.fixture
def alices_deployment(alice):
    return actions.deploy_repository(alice, name="web", repository_url="https://example.com/alice/app.git")


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name", "params"), ROUTES, ids=[r[1] or r[0] for r in ROUTES])
@pytest.mark.parametrize("method", ["get", "post"])
def test_bob_and_anonymous_cannot_reach_alices_objects(
    client, alice, bob, alices_deployment, route, name, params, method
):
    unknown = [p for p in params if p not in OBJECT_OF_PARAMETER]
    assert not unknown, f"{route}: say which object {unknown} names in OBJECT_OF_PARAMETER"
    url = reverse(name, kwargs={p: OBJECT_OF_PARAMETER[p](alices_deployment) for p in params})
    before = _counts()

    response = getattr(client, method)(url)
    assert response.status_code == 302, f"anonymous {method.upper()} {url}"
    assert response["Location"].startswith(reverse("account_login"))

    client.force_login(bob)
    response = getattr(client, method)(url)
    assert response.status_code in (403, 404, 405), f"bob {method.upper()} {url}: {response.status_code}"
    assert _counts() == before, f"bob's {method.upper()} {url} changed something"

    client.force_login(alice)
    response = getattr(client, method)(url)
    assert response.status_code not in (403, 404), f"alice cannot reach her own {url}"


def _counts():
    from deployments.models import Deployment, Service, WebhookDelivery
    from environments.models import Environment

    return [m.objects.count() for m in (Environment, Service, Deployment, WebhookDelivery)]
