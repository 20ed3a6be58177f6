"""Custom domains: validated, one service each, served over HTTPS by the proxy's CA once proven
(tests/test_domain_ownership.py), removable."""

import pytest
import requests
from django.conf import settings

from deployments import actions
from deployments.actions import ActionError
from ingress import actions as ingress_actions
from ingress import proxy
from tests.conftest import log_text, wait_for
from tests.waiting import eventually


def service_of(user, name="web"):
    deployment = actions.deploy_repository(user, name=name, repository_url=f"https://github.com/{user}/x.git")
    return deployment.service


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Enter a domain"),
        ("https://shop.example.com/", "enter the name alone"),
        ("shop.example.com:8443", "enter the name alone"),
        ("192.0.2.7", "is an IP address"),
        ("*.example.com", "wildcard domains are not supported"),
        ("example", "is not a valid domain"),
        ("-shop.example.com", "is not a valid domain"),
        ("shop_1.example.com", "is not a valid domain"),
        ("shop.123", "has no top-level domain"),
        ("localhost", "is the platform's own address"),
        ("web-production.localhost", "where the platform names services"),
    ],
)
def test_an_invalid_domain_is_refused_with_a_reason(db, alice, name, message):
    with pytest.raises(ActionError, match=message):
        ingress_actions.add_domain(service_of(alice), name, alice)


def test_a_domain_belongs_to_one_service_only(db, alice, bob, fake_dns):
    domain = ingress_actions.add_domain(service_of(alice), "Shop.Alice.localhost.", alice)
    fake_dns.set(domain.txt_name, "TXT", domain.txt_value)
    assert ingress_actions.check_domain(domain).verified_at is not None, domain.check_result
    with pytest.raises(ActionError, match=r"^shop\.alice\.localhost already belongs to another service, "):
        ingress_actions.add_domain(service_of(bob, "shop"), "shop.alice.localhost", bob)
    with pytest.raises(ActionError, match=r"already a domain of web"):
        ingress_actions.add_domain(service_of(alice), "shop.alice.localhost", alice)


def test_the_page_shows_the_dns_record_to_create(db, client, alice, bob):
    service = service_of(alice)
    client.force_login(alice)
    response = client.post(f"/services/{service.pk}/domains/add/", {"name": "shop.example.com"}, follow=True)
    page = response.content.decode()
    domain = service.custom_domains.get()
    assert "Create the DNS records shown here" in page
    assert f"shop.example.com A {settings.INGRESS_PUBLIC_IP}" in page
    assert f'{settings.DOMAIN_CHALLENGE_LABEL}.shop.example.com TXT "{domain.txt_value}"' in page
    assert "waiting for DNS" in page
    response = client.post(f"/services/{service.pk}/domains/add/", {"name": "not a domain"})
    assert response.status_code == 400
    assert "it holds spaces or invisible characters" in response.content.decode()
    client.force_login(bob)
    assert client.get(f"/services/{service.pk}/domains/").status_code == 404
    assert client.post(f"/domains/{domain.pk}/remove/").status_code == 404


def get_until(url: str, timeout: float = 20, **kwargs) -> requests.Response:
    """A worker loads the routes just after a domain is added, and the proxy then gets a
    certificate in the background."""

    def get() -> requests.Response | None:
        try:
            return requests.get(url, timeout=5, **kwargs)
        except requests.exceptions.ConnectionError:  # refused, or the TLS handshake failed
            return None

    return eventually(get, timeout=timeout, interval=0.2, message=f"{url} never answered over TLS")


@pytest.mark.docker
def test_custom_domain_answers_over_https_and_stops_after_removal(
    worker, alice, make_repo, localhost_names, fake_dns
):
    repo = make_repo("python-dockerfile")
    deployment = wait_for(actions.deploy_repository(alice, name="web", repository_url=repo.url))
    assert deployment.state == "running", log_text(deployment)
    domain = ingress_actions.add_domain(deployment.service, "shop.alice.localhost", alice)
    fake_dns.set(domain.txt_name, "TXT", domain.txt_value)
    domain = ingress_actions.check_domain(domain)  # a worker loads the routes after the commit
    assert domain.verified_at is not None, domain.check_result

    https = f"https://shop.alice.localhost:{settings.INGRESS_HTTPS_PORT}"
    response = get_until(f"{https}/", verify=str(proxy.root_certificate()))
    assert response.status_code == 200
    assert response.text == "hello from python-dockerfile v1"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{https}/", timeout=5)  # not a certificate the system trusts: the proxy's own CA
    redirect = requests.get(
        f"http://shop.alice.localhost:{settings.INGRESS_HTTP_PORT}/a?b=c", timeout=5, allow_redirects=False
    )
    assert redirect.status_code == 308
    assert redirect.headers["Location"] == f"{https}/a?b=c"

    ingress_actions.remove_domain(domain, alice)  # a worker loads the routes after the commit

    def refused() -> bool:
        try:
            requests.get(f"{https}/", timeout=5, verify=str(proxy.root_certificate()))
        except requests.exceptions.ConnectionError:
            return True
        return False

    eventually(refused, timeout=30, message=f"{https} still answers after the removal")
    gone = requests.get(f"http://shop.alice.localhost:{settings.INGRESS_HTTP_PORT}/", timeout=5)
    assert gone.status_code == 404
