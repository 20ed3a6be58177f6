"""Service addresses cannot collide across tenants: chosen once as the service is made, the
plain `<service>-<environment>` when free, else with the environment's suffix; tried the way a
hostile tenant would, raced, renamed, and kept by the migration. (Answering through the real
proxy: tests/test_ingress.py.)"""

import threading

import pytest
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from deployments import actions
from deployments.models import Service
from deployments.service_settings import change_settings
from environments.actions import delete_environment, get_or_create_environment
from environments.models import Environment
from ingress.addresses import suffix
from ingress.models import Hostname
from ingress.names import check_label
from tests.waiting import eventually

URL = "https://example.com/app.git"


def deploy(user, name="web", environment="production"):
    return actions.deploy_repository(user, name=name, repository_url=URL, environment=environment).service


def tenant(name: str):
    """A person who may deploy; no password, whose hashing would only make these tests slow."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(name, f"{name}@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def alice(db):
    return tenant("alice")


@pytest.fixture
def bob(db):
    return tenant("bob")


def make(user, name="web", environment="production"):
    """A service made without a deployment: nothing queued for a worker that is not there."""
    return Service.objects.create(
        environment=get_or_create_environment(user, environment), name=name, repository_url=URL
    )


def label(service) -> str:
    return Hostname.objects.get(service=service).label


def test_two_tenants_both_get_web_production_each_its_own(alice, bob, client, settings):
    alices, bobs = deploy(alice), deploy(bob)
    assert label(alices) == "web-production"
    bobs_suffix = suffix(bobs.environment_id)
    assert label(bobs) == f"web-production-{bobs_suffix}"
    # The suffix is the environment's: every clash in Bob's production gets the same one.
    deploy(alice, "api")
    assert label(deploy(bob, "api")) == f"api-production-{bobs_suffix}"
    # What Bob can have plainly, he gets plainly.
    assert label(deploy(bob, "shop")) == "shop-production"
    # Shown where he looks: the API gives the address from the start, before any deploy ran.
    from tests.test_api import api_client

    service = api_client(bob).get(f"/api/services/{bobs.pk}/").json()
    assert service["address"] == f"web-production-{bobs_suffix}.localhost"
    client.force_login(bob)
    page = client.get(reverse("service", args=[bobs.pk])).content.decode()
    assert f"http://web-production-{bobs_suffix}.localhost:{settings.INGRESS_HTTP_PORT}/" in page


def test_names_that_join_the_same_way_get_different_addresses(alice, bob):
    # `web-a` in `b` and `web` in `a-b` both read web-a-b: the second one cannot have it.
    first = deploy(alice, "web-a", "b")
    second = deploy(bob, "web", "a-b")
    assert label(first) == "web-a-b"
    assert label(second) == f"web-a-b-{suffix(second.environment_id)}"
    # Nor within one account.
    third = deploy(alice, "web", "a-b")
    assert label(third) == f"web-a-b-{suffix(third.environment_id)}"


def test_a_hostile_tenant_cannot_take_an_address_another_tenant_has(alice, bob):
    alices = deploy(alice, "web", "production")
    bobs = deploy(bob, "web", "production")
    taken = {label(alices), label(bobs)}
    # Mallory names things so that her plain address is each of theirs, one way or another.
    mallory = tenant("mallory")
    bobs_suffix = suffix(bobs.environment_id)
    attempts = [
        ("web", "production"), ("web-production", "x"), ("web", f"production-{bobs_suffix}"),
        (f"web-production-{bobs_suffix}", "x"), ("web-production", bobs_suffix),
    ]  # fmt: skip
    for name, environment in attempts:
        if not environment[0].isalpha():
            # A suffix may begin with a digit, which no environment name may: that way is shut.
            with pytest.raises(actions.ActionError, match="not a valid environment name"):
                deploy(mallory, name, environment)
            continue
        service = deploy(mallory, name, environment)
        assert label(service) not in taken, (name, environment)
        taken.add(label(service))
    assert label(Service.objects.get(pk=alices.pk)) == "web-production"
    assert label(Service.objects.get(pk=bobs.pk)) == f"web-production-{bobs_suffix}"


def test_the_portals_own_host_and_reserved_names_are_never_given_out(alice, settings):
    settings.APPS_DOMAIN = "apps.example.com"
    settings.SITE_URL = "https://m3o-portal.apps.example.com"
    settings.RESERVED_SERVICE_ADDRESSES = ["status-page"]
    portal = deploy(alice, "m3o", "portal")
    status = deploy(alice, "status", "page")
    assert label(portal) == f"m3o-portal-{suffix(portal.environment_id)}"
    assert label(status) == f"status-page-{suffix(status.environment_id)}"


def test_names_that_make_no_dns_label_plainly_still_get_a_valid_address(alice):
    long_name, long_environment = "s" * 30, "e" * 30  # 61 letters, 66 with a suffix
    deploy(alice, long_name, long_environment)
    clash = deploy(tenant("carol"), long_name, long_environment)
    odd = deploy(alice, "xn-", "dev")  # xn--dev: a label for an international name, not ours to make
    for service in (clash, odd):
        assert check_label(label(service)) == label(service)
    assert len(label(clash)) == 63
    assert label(odd) == f"xn-dev-{suffix(odd.environment_id)}"


def test_renaming_moves_the_address_with_the_name_and_releases_the_old_one(alice, bob):
    deploy(alice, "site")
    bobs = deploy(bob, "web")
    assert label(bobs) == "web-production"
    change_settings(bobs, bob, name="site")
    # Bob's new name is taken by Alice plainly, so it gets his environment's suffix.
    assert label(bobs) == f"site-production-{suffix(bobs.environment_id)}"
    # His old address is free again for whoever comes next.
    assert label(deploy(tenant("carol"), "web")) == "web-production"


def test_a_deleted_environments_addresses_go_back_to_its_owner(alice):
    web = deploy(alice)
    delete_environment(web.environment, alice)
    again = deploy(alice)
    assert again.pk != web.pk
    assert label(again) == "web-production"


@pytest.mark.django_db(transaction=True)
def test_two_tenants_making_web_in_production_at_the_same_moment_both_get_one():
    """Alice's insert is not committed when Bob's arrives: his waits on the unique index and,
    once hers commits, is refused and moves to his suffix (a check before the insert would
    have found nothing and failed)."""
    alice, bob = tenant("alice"), tenant("bob")
    inserted, commit, done = threading.Event(), threading.Event(), {}

    def alices_request():
        from django.db import transaction

        try:
            with transaction.atomic():
                done["alice"] = make(alice)
                inserted.set()
                commit.wait(30)
        finally:
            connections.close_all()

    def bobs_request():
        try:
            done["bob"] = make(bob)
        finally:
            connections.close_all()

    first = threading.Thread(target=alices_request)
    first.start()
    assert inserted.wait(30)
    second = threading.Thread(target=bobs_request)
    second.start()
    with connection.cursor() as cursor:

        def bob_waits_on_alice() -> bool:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0] >= 1

        eventually(bob_waits_on_alice, timeout=20, interval=0.05)
    commit.set()
    first.join(30)
    second.join(30)
    assert label(done["alice"]) == "web-production"
    assert label(done["bob"]) == f"web-production-{suffix(done['bob'].environment_id)}"


def test_the_migration_keeps_todays_addresses_and_gives_the_rest_one(db):
    alice, bob, dave = tenant("alice"), tenant("bob"), tenant("dave")
    alices = make(alice)  # deployed before: holds web-production
    bobs = make(bob)  # before, his deploy was refused: no address
    first, second = make(dave, "x", "y-z"), make(dave, "x-y", "z")  # never deployed, same label
    gone = make(dave, "old", "gone")
    Environment.objects.filter(pk=gone.environment_id).update(deleted_at=timezone.now())
    executor = MigrationExecutor(connection)
    leaf = executor.loader.graph.leaf_nodes("ingress")
    executor.migrate([("ingress", "0002_domain_ownership")])
    Hostname.objects.exclude(service=alices).delete()  # as they were before the migration
    Hostname.objects.filter(service=alices).update(label="web-production")
    executor = MigrationExecutor(connection)
    executor.migrate(leaf)

    assert label(alices) == "web-production"
    assert label(bobs) == f"web-production-{suffix(bobs.environment_id)}"
    assert label(first) == "x-y-z"
    assert label(second) == f"x-y-z-{suffix(second.environment_id)}"
    assert not Hostname.objects.filter(service=gone).exists()
