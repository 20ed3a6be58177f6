"""An uploaded folder belongs to its service: Bob can neither deploy nor delete Alice's.

Alice uploads her site with the API, as `m3o run .` does, and the real worker
deploys it. Bob then tries every way of naming her upload folder he can think
of, and every door that could act on it; nothing of hers may change.
"""

import io
import os
import tarfile
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from api import tokens, uploads
from deployments import actions, controls
from deployments.models import Deployment, Service
from environments.actions import create_environment, get_or_create_environment
from tests.conftest import log_text, wait_for

pytestmark = [pytest.mark.docker]

REFUSED = "That upload folder is not this service's"


def api_client(user) -> APIClient:
    _, raw = tokens.create_token(user, "test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def tar_gz(files: dict[str, str]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return SimpleUploadedFile("site.tar.gz", buffer.getvalue(), content_type="application/gzip")


def fingerprint(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file of the folder with its size and modification time."""
    found = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            info = os.stat(Path(parent) / name)
            found[str(Path(parent, name).relative_to(folder))] = (info.st_size, info.st_mtime_ns)
    return found


@pytest.fixture
def alices_upload(worker, alice):
    """Alice's site, uploaded and running: (its service, its upload folder, the folder's fingerprint)."""
    answer = api_client(alice).post(
        "/api/services/upload/",
        {"archive": tar_gz({"index.html": "<h1>Alice's own site</h1>"}), "name": "site"},
        format="multipart",
    )
    assert answer.status_code == 201, answer.content
    deployment = wait_for(Deployment.objects.get(pk=answer.json()["id"]))
    assert deployment.state == "running", log_text(deployment)
    service = deployment.service
    folder = uploads.repository_path(service.environment_id, "site")
    assert service.repository_url == str(folder)
    return service, folder, fingerprint(folder)


def assert_alice_untouched(alices_upload) -> None:
    service, folder, before = alices_upload
    assert fingerprint(folder) == before
    service.refresh_from_db()
    live = service.live_deployment
    assert requests.get(f"http://127.0.0.1:{live.host_port}/", timeout=5).text == "<h1>Alice's own site</h1>"


def test_bob_cannot_deploy_alices_upload_however_he_names_it(alices_upload, bob, tmp_path):
    service, folder, _ = alices_upload
    bobs_env = get_or_create_environment(bob, "production")
    mine = uploads.repository_path(bobs_env.pk, "site")
    link = tmp_path / "innocent.git"
    link.symlink_to(folder)
    attempts = [
        str(folder),  # as it is
        f"{mine.parent}/../{service.environment_id}/site.git",  # up from his own folder
        f"{folder}/",
        str(folder).replace("/site.git", "//site.git"),
        f"file://{folder}",
        "file://" + quote(str(folder)).replace("site", "%73ite"),  # git decodes %-escapes
        str(link),  # a link elsewhere that leads into it
        str(uploads.repository_path(service.environment_id, "web")),  # her environment, another name
    ]
    client = api_client(bob)
    for url in attempts:
        answer = client.post("/api/services/", {"name": "site", "repository_url": url}, format="json")
        assert answer.status_code == 400, (url, answer.content)
        assert REFUSED in answer.json()["error"], url
    # Naming his service after hers in her environment's folder is no better.
    for url in attempts[:2]:
        with pytest.raises(actions.ActionError, match=REFUSED):
            actions.deploy_repository(bob, name="site", repository_url=url, environment=bobs_env)
    assert not Service.objects.filter(environment=bobs_env).exists()
    assert_alice_untouched(alices_upload)


def test_a_service_that_names_alices_upload_is_refused_by_the_worker_and_deleted_without_it(
    alices_upload, bob
):
    service, folder, _ = alices_upload
    # As a row written before the rule, or copied across environments, would name it.
    bobs = Service.objects.create(
        environment=get_or_create_environment(bob, "production"), name="mirror", repository_url=str(folder)
    )
    deployment = wait_for(actions.request_deploy(bobs, bob))
    assert deployment.state == "failed"
    assert REFUSED in deployment.failure_reason
    assert "Alice" not in log_text(deployment)

    client = api_client(bob)
    assert client.delete(f"/api/services/{service.pk}/").status_code == 404  # hers: not even seen
    assert client.delete(f"/api/services/{bobs.pk}/").status_code == 204  # his, naming her folder
    assert_alice_untouched(alices_upload)


def test_alice_deleting_her_service_removes_her_upload_and_nothing_else(alices_upload, alice, bob):
    service, folder, _ = alices_upload
    bobs_env = get_or_create_environment(bob, "production")
    bobs = uploads.repository_path(bobs_env.pk, "site")
    uploads.commit_upload(tar_gz({"index.html": "Bob's"}), bobs, "bob@example.com")
    bobs_before = fingerprint(bobs)
    assert api_client(alice).delete(f"/api/services/{service.pk}/").status_code == 204
    assert not folder.exists()
    assert fingerprint(bobs) == bobs_before


def test_a_copied_environment_deploys_the_upload_from_a_folder_of_its_own(alices_upload, alice):
    service, folder, _ = alices_upload
    dev = create_environment(alice, name="dev-alice", copy_from=service.environment)
    copied = Service.objects.get(environment=dev, name="site")
    assert copied.repository_url == str(uploads.repository_path(dev.pk, "site")) != str(folder)
    deployment = wait_for(copied.deployments.get())
    assert deployment.state == "running", log_text(deployment)
    assert (
        requests.get(f"http://127.0.0.1:{deployment.host_port}/", timeout=5).text
        == "<h1>Alice's own site</h1>"
    )
    assert_alice_untouched(alices_upload)


def test_a_promoted_upload_redeploys_from_a_folder_of_its_own(alices_upload, alice):
    service, folder, _ = alices_upload
    service.refresh_from_db()
    staging = get_or_create_environment(alice, "staging")
    promoted = wait_for(controls.promote(service.live_deployment, staging, alice))
    assert promoted.state == "running", log_text(promoted)
    own = str(uploads.repository_path(staging.pk, "site"))
    assert promoted.service.repository_url == own != str(folder)
    rebuilt = wait_for(actions.request_deploy(promoted.service, alice))
    assert rebuilt.state == "running", log_text(rebuilt)
    assert_alice_untouched(alices_upload)
