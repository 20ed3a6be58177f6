"""The REST API: tokens, who may touch what, errors in JSON, pages, uploads, and a schema fuzz run."""

import hashlib
import io
import tarfile
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from api import tokens, uploads
from api.models import Token
from deployments import actions, variables
from deployments.actions import ActionError
from deployments.source import InvalidSource, validate_repository_url
from environments.actions import create_environment

pytestmark = pytest.mark.django_db


def api_client(user=None, raw: str | None = None) -> APIClient:
    if raw is None:
        _, raw = tokens.create_token(user, "test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def alices_web(alice):
    return actions.deploy_repository(alice, name="web", repository_url="https://example.com/alice/web.git")


def test_a_token_lets_its_owner_in(alice):
    answer = api_client(alice).get("/api/whoami/")
    assert answer.status_code == 200
    assert answer.json() == {"username": "alice", "email": "alice@example.com"}


@pytest.mark.parametrize("how", ["revoked", "expired", "made up", "not bearer"])
def test_revoked_expired_and_unknown_tokens_get_401(alice, how):
    token, raw = tokens.create_token(alice, "laptop", expires_in_days=30)
    if how == "revoked":
        tokens.revoke_token(alice, token.pk)
    elif how == "expired":
        Token.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif how == "made up":
        raw = raw[:-4] + "AAAA"
    client = APIClient()
    header = f"Token {raw}" if how == "not bearer" else f"Bearer {raw}"
    client.credentials(HTTP_AUTHORIZATION=header)
    answer = client.get("/api/environments/")
    assert answer.status_code == 401
    assert answer["Content-Type"] == "application/json"
    assert answer.json()["error"]


def test_tokens_are_stored_hashed_never_in_plain_text(alice):
    token, raw = tokens.create_token(alice, "laptop")
    stored = Token.objects.filter(pk=token.pk).values().get()
    assert not any(raw in str(value) for value in stored.values())
    assert stored["digest"] == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(stored["prefix"])
    assert len(stored["prefix"]) < len(raw) // 3


def test_a_name_filter_with_a_nul_byte_finds_nothing_instead_of_a_server_error(alice, alices_web):
    # Found by the schema fuzzing below: Postgres refuses NUL in text, which was a 500.
    client = api_client(alice)
    for path in ("/api/environments/", "/api/services/"):
        answer = client.get(path, {"name": "web\x00"})
        assert answer.status_code == 200, path
        assert answer.json()["results"] == []
    assert [s["name"] for s in client.get("/api/services/", {"name": "web"}).json()["results"]] == ["web"]


def test_bobs_token_cannot_touch_alices_objects(alice, bob, alices_web):
    service = alices_web.service
    environment = service.environment
    variables.set_variable(environment, "SECRET", "x", secret=True)
    as_bob = api_client(bob)
    attempts = [
        ("get", f"/api/services/{service.pk}/"),
        ("get", f"/api/environments/{environment.pk}/"),
        ("get", f"/api/environments/{environment.pk}/variables/"),
        ("get", f"/api/deployments/{alices_web.pk}/"),
        ("get", f"/api/deployments/{alices_web.pk}/log/"),
        ("get", f"/api/services/{service.pk}/logs/"),
        ("post", f"/api/services/{service.pk}/redeploy/"),
        ("post", f"/api/services/{service.pk}/stop/"),
        ("post", f"/api/deployments/{alices_web.pk}/cancel/"),
        ("post", f"/api/environments/{environment.pk}/members/"),
        ("delete", f"/api/environments/{environment.pk}/variables/SECRET/"),
        ("delete", f"/api/services/{service.pk}/"),
        ("delete", f"/api/environments/{environment.pk}/"),
    ]
    for method, path in attempts:
        answer = getattr(as_bob, method)(path, {"key": "X", "value": "1"}, format="json")
        assert answer.status_code == 404, (method, path, answer.content)
        assert "not found" in answer.json()["error"].lower()
    assert as_bob.get("/api/services/").json()["count"] == 0
    assert as_bob.get("/api/deployments/").json()["count"] == 0
    service.refresh_from_db()
    assert service.deployments.count() == 1
    assert variables.resolve(service) == {"SECRET": "x"}


def test_errors_are_json_a_person_can_read(alice):
    client = api_client(alice)
    nowhere = client.get("/api/no-such-thing/")
    assert nowhere.status_code == 404
    assert nowhere.json()["error"] == "There is no API endpoint at /api/no-such-thing/."
    # Found by the schema fuzzing: a negative id matches no route, and a newline in the
    # rest of the path slipped past the catch-all, which answered Django's HTML page.
    for odd in ("/api/services/-72341470196/variables/A%0AB/", "/api/%0A/", "/api/x%0D%0Ay/"):
        answer = client.delete(odd)
        assert answer.status_code == 404, odd
        assert answer.json()["error"].startswith("There is no API endpoint at /api/"), odd
    bad = client.post("/api/services/", {"name": "Web App", "repository_url": "ftp://x"}, format="json")
    assert bad.status_code == 400
    assert "not a valid service name" in bad.json()["error"]
    missing = client.post("/api/services/", {"name": "web"}, format="json")
    assert missing.json()["error"] == "repository_url: This field is required."
    assert APIClient().get("/api/services/").json()["error"].startswith("Authentication credentials")
    wrong_method = client.put("/api/services/", {}, format="json")
    assert wrong_method.status_code == 405
    assert "not allowed" in wrong_method.json()["error"]


def test_every_list_comes_in_pages(alice):
    for name in ("one", "two", "three"):
        create_environment(alice, name=name)
    client = api_client(alice)
    first = client.get("/api/environments/", {"page_size": 2}).json()
    assert first["count"] == 3
    assert [e["name"] for e in first["results"]] == ["one", "three"]
    second = client.get(first["next"]).json()
    assert [e["name"] for e in second["results"]] == ["two"]
    for path in (
        "/api/services/",
        "/api/deployments/",
        f"/api/environments/{second['results'][0]['id']}/members/",
    ):
        assert set(client.get(path).json()) == {"count", "next", "previous", "results"}


def test_secrets_are_written_and_never_read_back(alice, alices_web):
    client = api_client(alice)
    path = f"/api/services/{alices_web.service_id}/variables/"
    made = client.post(path, {"key": "API_KEY", "value": "hunter2", "secret": True}, format="json")
    assert made.status_code == 201
    assert made.json() == {"key": "API_KEY", "value": None, "secret": True, "scope": "service"}
    client.post(path, {"key": "MODE", "value": "fast"}, format="json")
    listed = client.get(path).json()["results"]
    assert {v["key"]: v["value"] for v in listed} == {"API_KEY": None, "MODE": "fast"}
    assert "hunter2" not in client.get(path).content.decode()
    assert variables.resolve(alices_web.service)["API_KEY"] == "hunter2"
    assert client.delete(path + "MODE/").status_code == 204
    assert client.delete(path + "MODE/").status_code == 404


def test_a_member_deploys_through_the_api_but_cannot_delete(alice, bob, alices_web):
    from environments.actions import add_member

    add_member(alices_web.service.environment, "bob@example.com", "member", alice)
    as_bob = api_client(bob)
    service_id = alices_web.service_id
    assert as_bob.post(f"/api/services/{service_id}/redeploy/").status_code == 200
    assert as_bob.delete(f"/api/services/{service_id}/").status_code == 404
    assert as_bob.get(f"/api/services/{service_id}/deployments/").json()["count"] == 2


def test_the_tokens_page_shows_a_new_token_once_and_revokes_it(client, alice):
    client.force_login(alice)
    page = client.post("/api/tokens/", {"name": "laptop", "expires_in_days": "30"}).content.decode()
    token = Token.objects.get(user=alice)
    raw = page.split('<code data-token id="token-value">')[1].split("</code>")[0]
    assert raw.startswith(token.prefix)
    assert api_client(raw=raw).get("/api/whoami/").status_code == 200
    again = client.get("/api/tokens/").content.decode()
    assert raw not in again
    assert token.prefix in again
    client.post(f"/api/tokens/{token.pk}/revoke/")
    assert api_client(raw=raw).get("/api/whoami/").status_code == 401


def test_the_nav_links_to_the_tokens_page(client, alice):
    client.force_login(alice)
    page = client.get("/api/tokens/").content.decode()
    assert '<a href="/api/tokens/">Tokens</a>' in page


def test_create_token_command_prints_a_working_token(alice, capsys):
    call_command("create_token", "alice@example.com")
    raw = capsys.readouterr().out.strip()
    assert api_client(raw=raw).get("/api/whoami/").json()["username"] == "alice"


def test_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    assert "/api/services/{service_id}/rollback/" in schema.json()["paths"]
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    assert "cdn" not in docs.lower()


def tar_gz(files: dict[str, str]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return SimpleUploadedFile("upload.tar.gz", buffer.getvalue(), content_type="application/gzip")


def test_an_upload_becomes_one_more_commit_of_the_services_repository(settings, tmp_path):
    import subprocess

    settings.UPLOADS_DIR = tmp_path / "uploads"
    repo = uploads.repository_path(7, "web")
    first = uploads.commit_upload(tar_gz({"index.html": "v1", "old.txt": "x"}), repo, "alice@example.com")
    second = uploads.commit_upload(tar_gz({"index.html": "v2"}), repo, "alice@example.com")
    git = ["git", f"--git-dir={repo}"]
    assert (
        subprocess.run([*git, "rev-parse", "main~1"], capture_output=True, text=True).stdout.strip() == first
    )
    files = subprocess.run([*git, "ls-tree", "--name-only", second], capture_output=True, text=True).stdout
    assert files.split() == ["index.html"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"../evil.sh": "x"}, "outside its folder"),
        ({"/etc/evil": "x"}, "outside its folder"),
        ({}, "no files"),
    ],
)
def test_uploads_that_could_escape_are_refused(settings, tmp_path, files, message):
    settings.UPLOADS_DIR = tmp_path / "uploads"
    with pytest.raises(ActionError, match=message):
        uploads.commit_upload(tar_gz(files), uploads.repository_path(1, "web"), "alice@example.com")


def test_only_upload_folders_pass_as_local_paths_when_local_repositories_are_off(settings, tmp_path):
    settings.ALLOW_LOCAL_REPOSITORIES = False
    settings.UPLOADS_DIR = tmp_path / "uploads"
    inside = str(tmp_path / "uploads" / "3" / "web.git")
    assert validate_repository_url(inside) == inside
    for outside in ("/etc", str(tmp_path / "uploads" / ".." / "elsewhere.git"), str(tmp_path / "uploads")):
        with pytest.raises(InvalidSource):
            validate_repository_url(outside)


# --- A schema-driven fuzz run --------------------------------------------------
# Every operation of the OpenAPI schema, with generated parameters and bodies,
# in-process against the WSGI application with alice's valid token. The two
# streaming endpoints (follow) are left out: against a deployment that never
# settles here (no worker runs) they would wait for as long as they are allowed.


def test_fuzzing_the_schema_finds_no_server_errors_and_no_answer_off_the_schema(
    alice, alices_web, settings, tmp_path
):
    import schemathesis
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    from portal.wsgi import application

    settings.UPLOADS_DIR = tmp_path / "uploads"
    settings.API_RATE_LIMIT = "100000/min"  # a fuzz run is a burst by design
    _, raw = tokens.create_token(alice, "fuzz")
    headers = {"Authorization": f"Bearer {raw}"}
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    # As Django's test client does: the test's transaction holds the connection,
    # which the end of each in-process request would otherwise close.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
        _fuzz(schema, headers, checks)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _fuzz(schema, headers, checks) -> None:
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings

    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/follow/"):
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case):
            case.call_and_validate(headers=headers, checks=checks)

        check()
    assert operations >= 25
