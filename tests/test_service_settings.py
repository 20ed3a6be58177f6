"""A service's settings (page, API), no silent change on the dashboard, and the rollback targets."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from deployments import actions, controls, queries, service_settings
from deployments.models import Deployment, Service
from deployments.pipeline import images_to_keep
from deployments.source import upload_path
from environments.actions import add_member
from environments.models import Environment
from ingress.models import Hostname
from tests.conftest import make_user
from tests.test_api import api_client

State = Deployment.State
pytestmark = pytest.mark.django_db


def service_of(user, name="web", environment="production", **fields) -> Service:
    env, _ = Environment.objects.get_or_create(owner=user, name=environment)
    fields.setdefault("repository_url", f"https://example.com/{name}.git")
    return Service.objects.create(environment=env, name=name, **fields)


def ran(service, state, image="", source=None) -> Deployment:
    return Deployment.objects.create(service=service, branch="main", state=state, image=image, source=source)


@override_settings(IMAGES_KEPT_PER_SERVICE=2)
def test_images_kept_are_counted_in_images_not_in_deployments(alice):
    web = service_of(alice)
    first = ran(web, State.SUPERSEDED, "app/s1:d1")
    second = ran(web, State.STOPPED, "app/s1:d2")
    # Started and rolled back again and again: many deployments, one image.
    for _ in range(4):
        ran(web, State.SUPERSEDED, second.image, source=second)
    ran(web, State.RUNNING, "app/s1:d9")
    assert images_to_keep(web) == {"app/s1:d9", second.image, first.image}


def test_roll_back_is_offered_only_where_the_image_is_kept(alice):
    web = service_of(alice)
    pruned = ran(web, State.SUPERSEDED, "")  # its image was pruned: image cleared
    kept = ran(web, State.SUPERSEDED, "app/s1:d2")
    failed = ran(web, State.FAILED, "")
    live = ran(web, State.RUNNING, "app/s1:d4")
    web.live_deployment = live
    web.save()
    assert queries.rollback_targets(web, [pruned, kept, failed, live]) == {kept.pk}
    assert queries.default_rollback_target(web) == kept
    with pytest.raises(actions.ActionError, match="no earlier deployment"):
        queries.default_rollback_target(service_of(alice, "api"))


def test_a_failed_service_is_mended_in_its_settings_and_deploys_with_them(alice, client):
    first = actions.deploy_repository(
        alice, name="web", repository_url="https://example.com/web.git", branch="nope"
    )
    Deployment.objects.filter(pk=first.pk).update(state=State.FAILED)
    web = first.service
    client.force_login(alice)
    page = client.get(reverse("service", args=[web.pk]))
    assert reverse("service-settings", args=[web.pk]).encode() in page.content
    form = {
        "name": "site", "repository_url": "https://example.com/site.git", "branch": "main",
        "subdirectory": "app", "port": "9000", "start_command": "gunicorn app:app",
        "build_command": "make assets", "predeploy_command": "python manage.py migrate",
        "health_check_path": "/healthz",
    }  # fmt: skip
    page = client.post(reverse("service-settings", args=[web.pk]), form, follow=True)
    assert b"Saved: repository, branch, folder, port, start command, build command" in page.content
    web.refresh_from_db()
    assert (web.name, web.repository_url, web.branch, web.subdirectory, web.port) == (
        "site", "https://example.com/site.git", "main", "app", 9000,
    )  # fmt: skip
    assert (web.build_command, web.predeploy_command, web.health_check_path) == (
        "make assets", "python manage.py migrate", "/healthz",
    )  # fmt: skip
    assert Hostname.objects.get(service=web).label == "site-production"
    client.post(reverse("redeploy", args=[web.pk]))
    again = web.deployments.order_by("-id").first()
    assert again.pk != first.pk
    assert again.branch == "main"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("branch", "--upload-pack=touch /tmp/x", "not a valid branch name"),
        ("subdirectory", "../../etc", "must be a relative path"),
        ("repository_url", "ext::sh -c id", "not allowed"),
        ("port", "0", "greater than or equal to 1"),
        ("health_check_path", "healthz", "must start with /"),
        ("health_check_path", "/a b", "must start with /"),
        ("start_command", "a\nb", "one line"),
        ("name", "Api!", "not a valid service name"),
        ("name", "api", "has a service called api already"),
    ],
)
def test_bad_settings_are_refused_with_a_reason_and_nothing_changes(alice, client, field, value, message):
    web = service_of(alice)
    service_of(alice, "api")
    form = {f: getattr(web, f) for f in ("name", "repository_url", "branch", "subdirectory", "port")}
    form |= {"start_command": "", "build_command": "", "predeploy_command": "", "health_check_path": "/"}
    form[field] = value
    client.force_login(alice)
    page = client.post(reverse("service-settings", args=[web.pk]), form)
    assert page.status_code == 400
    assert message in page.content.decode()
    before = {f: getattr(web, f) for f in form}
    web.refresh_from_db()
    assert {f: getattr(web, f) for f in form} == before


def test_an_upload_of_another_service_cannot_become_the_source(alice, bob, settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path
    bobs = service_of(bob)
    web = service_of(alice)
    theirs = str(upload_path(bobs.environment_id, bobs.name))
    with pytest.raises(actions.ActionError):
        service_settings.change_settings(web, alice, repository_url=theirs)
    mine = service_of(alice, "up")
    Service.objects.filter(pk=mine.pk).update(repository_url=str(upload_path(mine.environment_id, "up")))
    mine.refresh_from_db()
    with pytest.raises(actions.ActionError, match="keeps its name"):
        service_settings.change_settings(mine, alice, name="down")


def test_only_admins_change_settings_or_delete(alice, bob, client):
    web = service_of(alice)
    carol = make_user("carol")
    add_member(web.environment, carol.email, "member", alice)
    for person in (bob, carol):
        client.force_login(person)
        assert client.get(reverse("service-settings", args=[web.pk])).status_code == 404
        assert (
            client.post(reverse("service-delete", args=[web.pk]), {"confirm_name": "web"}).status_code == 404
        )
        assert api_client(person).patch(f"/api/services/{web.pk}/", {"port": 1}).status_code in (403, 404)
    web.refresh_from_db()
    assert web.port == 8080


def test_delete_asks_for_the_name_typed(alice, client):
    web = service_of(alice)
    client.force_login(alice)
    page = client.post(reverse("service-delete", args=[web.pk]), {"confirm_name": "WEB"})
    assert page.status_code == 400
    assert b"Type web exactly" in page.content
    assert Service.objects.filter(pk=web.pk).exists()
    page = client.post(reverse("service-delete", args=[web.pk]), {"confirm_name": "web"}, follow=True)
    assert b"web deleted from production" in page.content
    assert not Service.objects.filter(pk=web.pk).exists()


def test_the_api_changes_settings_as_the_page_does(alice):
    web = service_of(alice)
    api = api_client(alice)
    answer = api.patch(
        f"/api/services/{web.pk}/",
        {
            "build_command": "make",
            "predeploy_command": "./migrate",
            "path": "svc",
            "health_check_path": "/up",
        },
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert (answer.json()["build_command"], answer.json()["path"], answer.json()["health_check_path"]) == (
        "make", "svc", "/up",
    )  # fmt: skip
    answer = api.patch(f"/api/services/{web.pk}/", {"branch": "-x"}, format="json")
    assert answer.status_code == 400
    assert "branch" in answer.json()["error"]
    assert api.delete(f"/api/services/{web.pk}/").status_code == 204
    assert not Service.objects.filter(pk=web.pk).exists()


def test_the_deploy_form_picks_an_environment_and_asks_before_replacing(alice, client):
    web = service_of(alice)
    client.force_login(alice)
    page = client.get(reverse("dashboard"))
    assert b'<option value="new">A new environment' in page.content
    form = {"repository_url": "https://example.com/other.git", "name": "web", "environment": "new",
            "new_environment": "production"}  # fmt: skip
    page = client.post(reverse("deploy"), form)
    assert page.status_code == 400
    assert b"You have production already" in page.content
    form |= {"environment": str(web.environment_id), "new_environment": ""}
    page = client.post(reverse("deploy"), form)
    assert page.status_code == 400
    assert b"already has a service called web, deployed from https://example.com/web.git" in page.content
    assert b'type="checkbox" name="replace"' in page.content
    web.refresh_from_db()
    assert web.repository_url == "https://example.com/web.git"
    assert not web.deployments.exists()
    page = client.post(reverse("deploy"), form | {"replace": "on"})
    assert page.status_code == 302
    web.refresh_from_db()
    assert web.repository_url == "https://example.com/other.git"
    # A typo cannot make an environment: only a name given for a new one does.
    page = client.post(reverse("deploy"), form | {"environment": "prodution", "replace": "on"})
    assert page.status_code == 400
    assert not Environment.objects.filter(name="prodution").exists()
    page = client.post(
        reverse("deploy"), form | {"name": "api", "environment": "new", "new_environment": "dev"}
    )
    assert page.status_code == 302
    assert Service.objects.get(name="api").environment.name == "dev"


def test_the_api_and_manage_py_ask_before_replacing_a_repository(alice):
    web = service_of(alice)
    api = api_client(alice)
    other = {"name": "web", "repository_url": "https://example.com/other.git"}
    answer = api.post("/api/services/", other, format="json")
    assert answer.status_code == 409
    assert answer.json()["error"] == (
        "production already has a service called web, deployed from https://example.com/web.git. "
        'Deploying https://example.com/other.git replaces it. Send the request again with "replace": true '
        "to replace it."
    )
    with pytest.raises(CommandError, match=r"deployed from https://example\.com/web\.git\. .* --replace"):
        call_command("deploy", other["repository_url"], "--name", "web", "--user", "alice")
    web.refresh_from_db()
    assert web.repository_url == "https://example.com/web.git"
    assert not web.deployments.exists()

    assert api.post("/api/services/", other | {"replace": True}, format="json").status_code == 201
    web.refresh_from_db()
    assert web.repository_url == "https://example.com/other.git"
    call_command("deploy", "https://example.com/web.git", "--name", "web", "--user", "alice", "--replace",
                 stdout=io.StringIO())  # fmt: skip
    web.refresh_from_db()
    assert web.repository_url == "https://example.com/web.git"
    # The same repository again is a plain redeploy: nothing to ask.
    again = {"name": "web", "repository_url": "https://example.com/web.git"}
    assert api.post("/api/services/", again, format="json").status_code == 201
    assert web.deployments.count() == 3


def test_the_service_page_shows_how_it_is_built_started_and_checked(alice, client):
    web = service_of(
        alice, port=5000, build_command="npm run build <script>x</script>", predeploy_command="./migrate",
        health_check_path="/healthz",
    )  # fmt: skip
    client.force_login(alice)
    page = client.get(reverse("service", args=[web.pk])).content.decode()
    shown = page[page.index('id="service-settings"') : page.index("</dl>")]
    assert "<dt>Port</dt><dd><code>5000</code></dd>" in shown
    # A command is text, never markup.
    assert "<code>npm run build &lt;script&gt;x&lt;/script&gt;</code>" in shown
    assert "<dt>Pre-deploy command</dt><dd><code>./migrate</code></dd>" in shown
    assert "<code>GET /healthz</code>" in shown
    assert f'<a href="{reverse("service-settings", args=[web.pk])}">Change these</a>' in page
    # A member reads them; only admins get the way to change them.
    add_member(web.environment, make_user("carol").email, "member", alice)
    client.force_login(Service.objects.get(pk=web.pk).environment.memberships.get().user)
    page = client.get(reverse("service", args=[web.pk])).content.decode()
    assert "<code>./migrate</code>" in page
    assert "Change these</a>" not in page


def test_stop_and_rollback_ask_first(alice, client):
    web = service_of(alice)
    earlier = ran(web, State.SUPERSEDED, "app/s1:d1")
    live = ran(web, State.RUNNING, "app/s1:d2")
    web.live_deployment = live
    web.save()
    client.force_login(alice)
    page = client.post(reverse("service-stop", args=[web.pk]))
    assert page.status_code == 200
    assert b"Stop web?" in page.content
    page = client.post(reverse("service-rollback", args=[web.pk, earlier.pk]))
    assert b"Roll web back to deployment" in page.content
    live.refresh_from_db()
    assert live.state == State.RUNNING
    assert web.deployments.count() == 2
    client.post(reverse("service-stop", args=[web.pk]), {"confirmed": "yes"})
    live.refresh_from_db()
    assert live.state == State.STOPPED


def test_new_variables_restart_what_runs_after_a_rollback(alice):
    web = service_of(alice)
    first = ran(web, State.SUPERSEDED, "app/s1:d1")
    back = ran(web, State.RUNNING, first.image, source=first)  # a rollback serves
    web.live_deployment = back
    web.save()
    again = controls.apply_variables(web, alice)
    assert again.source_id == back.pk  # its image again, not a build of the newest commit


def test_the_environment_page_asks_before_replacing_too(alice, client):
    web = service_of(alice)
    client.force_login(alice)
    form = {"repository_url": "https://example.com/other.git", "name": "web"}
    url = reverse("environment-deploy", args=[web.environment_id])
    page = client.post(url, form)
    assert page.status_code == 400
    assert b"deployed from https://example.com/web.git" in page.content
    web.refresh_from_db()
    assert web.repository_url == "https://example.com/web.git"
    assert client.post(url, form | {"replace": "on"}).status_code == 302
    web.refresh_from_db()
    assert web.repository_url == "https://example.com/other.git"
