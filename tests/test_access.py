"""Every page looks objects up through the person asking."""

import pytest
from django.urls import reverse

from deployments import actions


@pytest.fixture
def alices_deployment(alice):
    return actions.deploy_repository(alice, name="web", repository_url="https://example.com/alice/app.git")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "method", "kind"),
    [
        ("service", "get", "service"),
        ("redeploy", "post", "service"),
        ("deployment", "get", "deployment"),
        ("deployment-log", "get", "deployment"),
    ],
)
def test_bob_gets_404_for_alices_objects(client, bob, alices_deployment, name, method, kind):
    pk = alices_deployment.service_id if kind == "service" else alices_deployment.pk
    url = reverse(name, args=[pk])
    client.force_login(bob)
    assert getattr(client, method)(url).status_code == 404
    client.logout()
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.django_db
def test_bob_does_not_see_alices_services_on_the_dashboard(client, bob, alices_deployment):
    client.force_login(bob)
    assert client.get(reverse("dashboard")).url == reverse("onboarding")
    client.force_login(alices_deployment.service.environment.owner)
    assert b"web" in client.get(reverse("dashboard")).content
