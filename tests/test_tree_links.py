"""A repository's links never lead the platform out of its checkout.

Git checks links out as links, so an attacker commits one wherever the
platform writes or reads a file and points it at something of the host's.
The canary is that something: it must come out of every deploy untouched.
"""

import os

import pytest
import requests

from billing import licenses
from deployments import actions, tree
from deployments.errors import UserError
from tests.conftest import log_text, wait_for

CANARY = "the host's own file: nobody may write or read this\n"


@pytest.fixture
def canary(tmp_path):
    path = tmp_path / "outside" / "canary.txt"
    path.parent.mkdir()
    path.write_text(CANARY)
    return path


def commit_links(repo, links: dict[str, os.PathLike]) -> None:
    for name, target in links.items():
        (repo.path / name).symlink_to(target)
    repo.commit("Links where the platform reads and writes")


def untouched(canary) -> bool:
    return canary.read_text() == CANARY


@pytest.mark.docker
def test_links_in_place_of_the_generated_dockerfile_and_license_leave_the_canary_alone(
    worker, alice, make_repo, canary
):
    repo = make_repo("static-site")
    # Before: the worker wrote the generated Dockerfile through this link, over the canary.
    commit_links(repo, {".m3o.Dockerfile": canary, "LICENSE": canary, "COPYING": canary})
    deployment = wait_for(actions.deploy_repository(alice, name="web", repository_url=repo.url))
    assert deployment.state == "running", log_text(deployment)
    assert untouched(canary)
    page = requests.get(f"http://127.0.0.1:{deployment.host_port}/", timeout=5)
    assert page.status_code == 200
    # The license the open-source check read was none: the canary's text was never read as one.
    assert "canary" not in log_text(deployment)


@pytest.mark.docker
@pytest.mark.parametrize("name", ["Procfile", ".dockerignore", "Dockerfile", "package.json"])
def test_a_link_out_in_place_of_a_file_the_platform_reads_fails_with_a_clear_message(
    worker, alice, make_repo, canary, name
):
    repo = make_repo("static-site")
    if name == "package.json":
        (repo.path / "index.html").unlink()  # so package.json is what says "Node.js"
    commit_links(repo, {name: canary})
    deployment = wait_for(actions.deploy_repository(alice, name="web", repository_url=repo.url))
    assert deployment.state == "failed"
    assert deployment.failure_reason == f"{name} is a link that points outside the repository."
    assert untouched(canary)
    assert "nobody may" not in log_text(deployment)


# --- The module itself, on trees made by hand --------------------------------


def test_links_that_stay_inside_the_tree_are_read(tmp_path):
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "prod.Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "Dockerfile").symlink_to("docker/prod.Dockerfile")
    assert tree.read_text(tmp_path, "Dockerfile") == "FROM scratch\n"
    assert tree.is_file(tmp_path, "Dockerfile")


def test_a_link_through_a_folder_out_of_the_tree_is_refused(tmp_path, canary):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "config").symlink_to(canary.parent)
    for look in (tree.read_text, tree.is_file):
        with pytest.raises(UserError, match="points outside the repository"):
            look(root, "config/canary.txt")


def test_a_name_that_leaves_the_tree_is_refused_however_it_is_written(tmp_path):
    # Names built from a repository's own text (a settings module, say) can be anything.
    for name in ("/etc/passwd", "../../etc/passwd", "a/../../x"):
        with pytest.raises(UserError, match="is not a path inside the repository"):
            tree.read_text(tmp_path, name)


def test_a_fifo_in_a_files_place_is_refused_without_blocking(tmp_path):
    # Opened for reading, a FIFO with no writer would block the worker for ever.
    os.mkfifo(tmp_path / "Procfile")
    with pytest.raises(UserError, match="not a regular file"):
        tree.read_text(tmp_path, "Procfile")
    assert not tree.is_file(tmp_path, "Procfile")


def test_a_device_behind_a_link_is_outside_and_never_opened(tmp_path):
    (tmp_path / "package.json").symlink_to("/dev/zero")
    with pytest.raises(UserError, match="points outside the repository"):
        tree.read_bytes(tmp_path, "package.json")


def test_a_huge_file_is_refused_or_cut_at_the_limit(tmp_path):
    (tmp_path / "Procfile").write_bytes(b"x" * 5000)
    with pytest.raises(UserError, match="larger than"):
        tree.read_bytes(tmp_path, "Procfile", limit=4096)
    assert tree.read_bytes(tmp_path, "Procfile", limit=4096, truncate=True) == b"x" * 4096


def test_license_files_that_are_links_are_not_read(tmp_path, canary):
    canary.write_text("Apache License\nVersion 2.0, January 2004\n")
    (tmp_path / "LICENSE").symlink_to(canary)
    assert licenses.find(tmp_path) is None


def test_removing_a_tree_unlinks_its_links_without_following_them(tmp_path, canary):
    doomed = tmp_path / "checkout"
    (doomed / "src").mkdir(parents=True)
    (doomed / "src" / "out").symlink_to(canary.parent)
    (doomed / "src" / "file").symlink_to(canary)
    tree.remove(doomed)
    assert not doomed.exists()
    assert untouched(canary)
    # A link in the folder's own place is removed, not what it points at.
    (tmp_path / "upload.git").symlink_to(canary.parent)
    tree.remove(tmp_path / "upload.git")
    assert untouched(canary)
