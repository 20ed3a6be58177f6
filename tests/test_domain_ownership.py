"""Custom domains are served only once proven by a TXT record with the domain's own token,
as a hostile tenant would try it: a name pointed here by someone else, a name another
tenant proved (in any spelling), a proof withdrawn, junk names.

DNS answers come from tests/fakes/dns.py, a real DNS server on 127.0.0.1 that the
platform's resolver asks over UDP (DOMAIN_DNS_SERVERS).
"""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from deployments import actions
from deployments.actions import ActionError
from environments.models import Event
from ingress import actions as ingress_actions
from ingress import routes, tasks
from ingress.models import Domain
from ingress.proxy import caddy, nginx

pytestmark = pytest.mark.django_db


def service_of(user, name="web"):
    deployment = actions.deploy_repository(user, name=name, repository_url=f"https://github.com/{user}/x.git")
    return deployment.service


def proxy_configs(tmp_path) -> str:
    """Both proxies' configurations as they would be loaded now, as one text."""
    sites = routes.sites()
    caddy_config = json.dumps(caddy.build_config(tmp_path, sites, lambda site: tmp_path / f"{site.key}.log"))
    return caddy_config + nginx.render(tmp_path, sites, "1", lambda site: tmp_path / f"{site.key}.log")


def certificate_subjects(tmp_path) -> list[str]:
    config = caddy.build_config(tmp_path, routes.sites(), lambda site: tmp_path / f"{site.key}.log")
    policies = config["apps"].get("tls", {}).get("automation", {}).get("policies", [])
    return [subject for policy in policies for subject in policy["subjects"]]


def publish(fake_dns, domain: Domain) -> None:
    fake_dns.set(domain.txt_name, "TXT", domain.txt_value)


def test_a_domain_pointing_here_without_its_txt_record_gets_no_route_and_no_certificate(
    alice, bob, fake_dns, tmp_path
):
    fake_dns.set("shop.example.com", "A", settings.INGRESS_PUBLIC_IP)
    domain = ingress_actions.add_domain(service_of(alice), "shop.example.com", alice)
    domain = ingress_actions.check_domain(domain)
    assert domain.verified_at is None
    assert domain.status == "pending"
    assert f'the TXT record {domain.txt_name} = "{domain.txt_value}" is missing' in domain.check_result
    assert "shop.example.com" not in proxy_configs(tmp_path)
    assert certificate_subjects(tmp_path) == []
    # Caddy is told every name it may get a certificate for: it has no on-demand TLS to ask about others.
    assert "on_demand" not in proxy_configs(tmp_path)

    # A TXT record with a value that is not this domain's token (another claim's, a guess) proves nothing.
    bobs = ingress_actions.add_domain(service_of(bob, "bobs"), "shop.example.com", bob)
    fake_dns.set(domain.txt_name, "TXT", bobs.txt_value.replace(bobs.token, "0" * 32), "v=spf1 -all")
    domain = ingress_actions.check_domain(domain)
    assert domain.verified_at is None
    assert "'v=spf1 -all'" in domain.check_result

    publish(fake_dns, domain)
    domain = ingress_actions.check_domain(domain)
    assert domain.status == "serving", domain.check_result
    assert "shop.example.com" in proxy_configs(tmp_path)
    assert certificate_subjects(tmp_path) == ["shop.example.com"]
    assert Event.objects.filter(action="domain verified", detail__startswith="shop.example.com").count() == 1


def test_a_txt_record_alone_is_not_enough_the_name_must_point_here(alice, fake_dns, tmp_path):
    domain = ingress_actions.add_domain(service_of(alice), "www.example.org", alice)
    publish(fake_dns, domain)
    fake_dns.set("www.example.org", "CNAME", "elsewhere.example.net")
    fake_dns.set("elsewhere.example.net", "A", "192.0.2.99")
    domain = ingress_actions.check_domain(domain)
    assert domain.verified_at is None
    assert "www.example.org points at 192.0.2.99, not at" in domain.check_result
    assert "www.example.org" not in proxy_configs(tmp_path)


def test_the_proof_withdrawn_keeps_serving_through_the_grace_period_then_stops_and_comes_back(
    alice, fake_dns, tmp_path, client, settings
):
    settings.DOMAIN_GRACE_HOURS = 2
    service = service_of(alice)
    fake_dns.set("api.example.com", "A", settings.INGRESS_PUBLIC_IP)
    domain = ingress_actions.add_domain(service, "api.example.com", alice)
    publish(fake_dns, domain)
    domain = ingress_actions.check_domain(domain)
    assert domain.status == "serving", domain.check_result

    fake_dns.remove(domain.txt_name)
    domain = ingress_actions.check_domain(domain)
    assert domain.status == "failing"
    assert domain.stops_at == domain.failing_since + timedelta(hours=2)
    assert "api.example.com" in proxy_configs(tmp_path), "it serves on within the grace period"
    client.force_login(alice)
    page = client.get(f"/services/{service.pk}/domains/").content.decode()
    assert "DNS proof missing" in page
    assert "it stops serving at" in page

    # A DNS that does not answer (here: no server at all) is no proof that the record is gone.
    settings.DOMAIN_DNS_SERVERS = ["127.0.0.1:9"]
    Domain.objects.filter(pk=domain.pk).update(failing_since=timezone.now() - timedelta(hours=3))
    settings.DOMAIN_DNS_TIMEOUT = 0.3
    domain = ingress_actions.check_domain(Domain.objects.get(pk=domain.pk))
    assert domain.verified_at is not None
    assert "the DNS did not answer" in domain.check_result
    settings.DOMAIN_DNS_SERVERS = [fake_dns.address]

    # The grace period is over: no route from the next load on, even before a check says so.
    assert "api.example.com" not in proxy_configs(tmp_path)
    assert domain.status == "stopped"
    domain = ingress_actions.check_domain(domain)
    assert (domain.verified_at, domain.status) == (None, "stopped")
    assert "api.example.com" not in proxy_configs(tmp_path)
    page = client.get(f"/services/{service.pk}/domains/").content.decode()
    assert "stopped: DNS proof missing" in page
    events = Event.objects.filter(detail__startswith="api.example.com").order_by("pk")
    assert list(events.values_list("action", flat=True)) == [
        "add domain", "domain verified", "domain failing", "domain unverified",
    ]  # fmt: skip

    publish(fake_dns, domain)
    tasks.check_domains()  # what beat runs on a worker
    domain.refresh_from_db()
    assert (domain.status, domain.failing_since) == ("serving", None)
    assert "api.example.com" in proxy_configs(tmp_path)
    assert "check-domains" in settings.CELERY_BEAT_SCHEDULE


def test_the_proof_back_within_the_grace_period_ends_the_failure(alice, fake_dns):
    fake_dns.set("blog.example.com", "A", settings.INGRESS_PUBLIC_IP)
    domain = ingress_actions.add_domain(service_of(alice), "blog.example.com", alice)
    publish(fake_dns, domain)
    domain = ingress_actions.check_domain(domain)
    verified_at = domain.verified_at
    fake_dns.remove("blog.example.com", "A")
    assert ingress_actions.check_domain(domain).status == "failing"
    fake_dns.set("blog.example.com", "A", settings.INGRESS_PUBLIC_IP)
    domain = ingress_actions.check_domain(domain)
    assert (domain.status, domain.verified_at) == ("serving", verified_at)
    assert Event.objects.filter(action="domain proven again").count() == 1


def test_bob_cannot_claim_a_domain_alice_proved_in_any_spelling(alice, bob, fake_dns):
    fake_dns.set("shop.example.com", "A", settings.INGRESS_PUBLIC_IP)
    domain = ingress_actions.add_domain(service_of(alice), "shop.example.com", alice)
    publish(fake_dns, domain)
    assert ingress_actions.check_domain(domain).verified_at is not None
    bobs = service_of(bob, "bobs")
    for spelling in ("SHOP.Example.com.", "shop.example.com", " shop.example.com "):
        with pytest.raises(ActionError, match=r"^shop\.example\.com already belongs to another service"):
            ingress_actions.add_domain(bobs, spelling, bob)
    assert Domain.objects.filter(name="shop.example.com").count() == 1


def test_international_names_have_one_spelling(alice, bob, fake_dns):
    domain = ingress_actions.add_domain(service_of(alice), "Bücher.Example.", alice)
    assert domain.name == "xn--bcher-kva.example"
    fake_dns.set(domain.name, "A", settings.INGRESS_PUBLIC_IP)
    publish(fake_dns, domain)
    assert ingress_actions.check_domain(domain).verified_at is not None
    for spelling in ("xn--bcher-kva.example", "XN--BCHER-KVA.EXAMPLE", "BÜCHER.example", "bücher。example"):
        with pytest.raises(ActionError, match="already belongs to another service"):
            ingress_actions.add_domain(service_of(bob, "bobs"), spelling, bob)


def test_an_unproven_claim_blocks_nobody_and_the_owners_proof_decides(alice, bob, fake_dns):
    """Alice claims a name she does not own; Bob owns it and proves it; Alice's claim stays unproven."""
    fake_dns.set("shop.bob.example", "A", settings.INGRESS_PUBLIC_IP)
    alices = ingress_actions.add_domain(service_of(alice), "shop.bob.example", alice)
    bobs = ingress_actions.add_domain(service_of(bob, "bobs"), "shop.bob.example", bob)
    assert alices.token != bobs.token
    publish(fake_dns, bobs)
    assert ingress_actions.check_domain(alices).verified_at is None
    assert ingress_actions.check_domain(bobs).verified_at is not None
    # Even with both tokens published, a proven name has one owner.
    fake_dns.set(bobs.txt_name, "TXT", bobs.txt_value, alices.txt_value)
    alices = ingress_actions.check_domain(alices)
    assert alices.verified_at is None
    assert alices.check_result == "shop.bob.example already belongs to another service."


JUNK = [
    ("..", "is not a valid domain"),
    ("shop..example.com", "is not a valid domain"),
    ("a" * 300 + ".com", "is not a valid domain"),
    (("a" * 63 + ".") * 4 + "com", "at most 253 characters"),
    ("💩.example.com", "letters or symbols a domain name cannot hold"),
    ("xn--zz.example.com", "letters or symbols a domain name cannot hold"),
    ("sh\u200bop.example.com", "invisible characters"),
    ("\u202emoc.elpmaxe", "invisible characters"),
    ("shop example.com", "invisible characters"),
    ("localhost", "the platform's own address"),
    ("LOCALHOST.", "the platform's own address"),
    ("127.0.0.1", "is an IP address"),
    ("[::1]", "enter the name alone"),
    ("10.0.0.1.", "is an IP address"),
    ("*.example.com", "wildcard domains are not supported"),
    ("shop.*.example.com", "wildcard domains are not supported"),
    ("apps.example.net", "the platform's own address"),
    ("web-production.apps.example.net", "where the platform names services"),
    ("a.b.APPS.example.net.", "where the platform names services"),
    ("portal.example.net", "the platform's own address"),
]


def test_junk_and_the_platforms_own_names_are_refused_with_a_reason(alice, settings):
    settings.APPS_DOMAIN = "apps.example.net"
    settings.PORTAL_DOMAIN = "portal.example.net"
    service = service_of(alice)
    for name, message in JUNK:
        with pytest.raises(ActionError, match=message):
            ingress_actions.add_domain(service, name, alice)
    assert not Domain.objects.exists()


def test_the_api_and_the_cli_show_the_records_to_create_and_check_them(
    live_server, alice, bob, fake_dns, tmp_path
):
    from api.tokens import create_token
    from tests.test_api import api_client
    from tests.test_cli import M3O

    web = service_of(alice)
    answer = api_client(bob).post(
        f"/api/services/{web.pk}/domains/", {"name": "shop.example.com"}, format="json"
    )
    assert answer.status_code == 404
    alices = api_client(alice)
    junk = alices.post(f"/api/services/{web.pk}/domains/", {"name": "shop..example.com"}, format="json")
    assert (junk.status_code, junk.json()["error"][:40]) == (400, "shop..example.com is not a valid domain:")
    added = alices.post(f"/api/services/{web.pk}/domains/", {"name": "Shop.Example.com."}, format="json")
    assert added.status_code == 201, added.content
    domain = Domain.objects.get()
    assert added.json()["status"] == "pending"
    assert added.json()["records"] == [
        {
            "type": "TXT",
            "name": f"{settings.DOMAIN_CHALLENGE_LABEL}.shop.example.com",
            "value": domain.txt_value,
        },
        {"type": "A", "name": "shop.example.com", "value": settings.INGRESS_PUBLIC_IP},
    ]
    assert api_client(bob).get(f"/api/services/{web.pk}/domains/").status_code == 404

    cli = M3O(tmp_path / "config", live_server.url)
    cli.ok("login", "--url", live_server.url, "--token", create_token(alice, "cli")[1])
    listed = cli.ok("domains", "list", "web")
    assert f'{domain.txt_name}  TXT  "{domain.txt_value}"' in listed
    assert "shop.example.com  pending" in listed
    fake_dns.set("shop.example.com", "A", settings.INGRESS_PUBLIC_IP)
    publish(fake_dns, domain)
    checked = cli.ok("domains", "check", "web", "shop.example.com")
    assert "shop.example.com  serving" in checked
    assert "its TXT record proves it is yours" in checked
    refused = cli("domains", "add", "web", "localhost")
    assert refused.returncode == 1
    assert "localhost is the platform's own address." in refused.stderr
    assert "removed" in cli.ok("domains", "remove", "web", "shop.example.com")
    assert not Domain.objects.exists()


def test_the_migration_gives_old_domains_a_token_and_the_grace_period_to_prove_them(alice):
    """Served before because they pointed here: they keep serving for the grace period, no longer."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    web = service_of(alice)
    with connection.cursor() as cursor:  # PostgreSQL alters no table with checks still pending
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    executor = MigrationExecutor(connection)
    leaf = executor.loader.graph.leaf_nodes("ingress")
    executor.migrate([("ingress", "0001_initial")])
    old = executor.loader.project_state([("ingress", "0001_initial")]).apps.get_model("ingress", "Domain")
    before = timezone.now()
    old.objects.create(name="old.example.com", service_id=web.pk, verified_at=before - timedelta(days=30))
    old.objects.create(name="new.example.com", service_id=web.pk)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    MigrationExecutor(connection).migrate(leaf)

    served, pending = Domain.objects.get(name="old.example.com"), Domain.objects.get(name="new.example.com")
    assert len({served.token, pending.token}) == 2
    assert len(served.token) == 32
    assert served.status == "failing"
    assert served.failing_since >= before
    assert "publish the TXT record" in served.check_result
    assert (pending.status, pending.failing_since) == ("pending", None)
