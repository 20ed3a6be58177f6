"""Every URL of the site that takes an object's id refuses everyone but its owner.

The sweep walks the URL configuration itself, so a new page with an id in its
path is covered (or fails here until someone says which object it takes).
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from api.models import Token
from api.tokens import create_token
from deployments import actions, variables
from environments.actions import add_member
from ingress.models import Domain
from jobs.models import CronJob, JobRun
from tests.conftest import make_user

# Which object a URL parameter names; a new id parameter must be added here.
OBJECT_OF_PARAMETER = {
    "service_id": lambda objects: objects["deployment"].service_id,
    "deployment_id": lambda objects: objects["deployment"].pk,
    "environment_id": lambda objects: objects["deployment"].service.environment_id,
    "membership_id": lambda objects: objects["membership"].pk,
    "domain_id": lambda objects: objects["domain"].pk,
    "token_id": lambda objects: objects["token"].pk,
    "job_id": lambda objects: objects["cron_job"].pk,
    "run_id": lambda objects: objects["run"].pk,
}
# Parameters that are not ids: the fixture makes objects with these names.
NAMES = {"key": "GREETING", "name": "shop.alice.localhost"}
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
def alices_objects(alice):
    """Alice's deployment (so her service and environment), and carol as a member there."""
    deployment = actions.deploy_repository(
        alice, name="web", repository_url="https://example.com/alice/app.git"
    )
    membership = add_member(deployment.service.environment, make_user("carol").email, "member", alice)
    domain = Domain.objects.create(name="shop.alice.localhost", service=deployment.service)
    token, _ = create_token(alice, "laptop")
    variables.set_variable(deployment.service.environment, "GREETING", "hello")
    variables.set_variable(deployment.service, "GREETING", "hello")
    cron_job = CronJob.objects.create(
        service=deployment.service,
        schedule="* * * * *",
        command="true",
        timeout=60,
        next_run_at=timezone.now(),
    )
    run = JobRun.objects.create(  # ended, so her own request for its output ends too
        service=deployment.service,
        cron_job=cron_job,
        command="true",
        timeout=60,
        state=JobRun.State.SUCCEEDED,
    )
    return {"deployment": deployment, "membership": membership, "domain": domain, "token": token,
            "cron_job": cron_job, "run": run}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name", "params"), ROUTES, ids=[r[1] or r[0] for r in ROUTES])
@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_bob_and_anonymous_cannot_reach_alices_objects(
    client, alice, bob, alices_objects, route, name, params, method
):
    unknown = [p for p in params if p not in OBJECT_OF_PARAMETER]
    assert not unknown, f"{route}: say which object {unknown} names in OBJECT_OF_PARAMETER"
    kwargs = {p: OBJECT_OF_PARAMETER[p](alices_objects) for p in params}
    url = reverse(
        name, kwargs={**{k: v for k, v in NAMES.items() if re.search(rf"<(\w+:)?{k}>", route)}, **kwargs}
    )
    before = _counts()

    response = getattr(client, method)(url)
    if response.status_code == 302:  # a page: to the login form
        assert response["Location"].startswith(reverse("account_login"))
    else:  # the API: a JSON refusal
        assert response.status_code == 401, f"anonymous {method.upper()} {url}: {response.status_code}"
        assert "error" in response.json()

    client.force_login(bob)
    response = getattr(client, method)(url)
    assert response.status_code in (403, 404, 405), f"bob {method.upper()} {url}: {response.status_code}"
    assert _counts() == before, f"bob's {method.upper()} {url} changed something"

    client.force_login(alice)
    response = getattr(client, method)(url)
    # Her own objects answer her: a page, a redirect after a change, a form's complaint
    # about what she left out (or its type), or "not this method"; never a refusal or a crash.
    allowed = {200, 201, 204, 302, 400, 405, 415}
    assert response.status_code in allowed, f"alice {method.upper()} {url}: {response.status_code}"


def _counts():
    from deployments.models import Deployment, Service, Variable, WebhookDelivery
    from environments.models import Environment, Membership

    models = (
        Environment,
        Service,
        Deployment,
        WebhookDelivery,
        Variable,
        Membership,
        Domain,
        Token,
        CronJob,
        JobRun,
    )
    return [m.objects.count() for m in models] + [
        Environment.objects.filter(deleted_at=None).count(),
        Token.objects.filter(revoked_at=None).count(),
    ]
