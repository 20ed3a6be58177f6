"""Repository URLs, branches and paths are checked before git ever runs."""

import os
import socket
import subprocess

import pytest

from deployments import source
from deployments.errors import UserError
from deployments.source import InvalidSource, validate_branch, validate_repository_url, validate_subdirectory


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% /tmp/pwned",
        "ext::sh",
        "--upload-pack=touch /tmp/pwned",
        "-u/tmp/x",
        "ssh://-oProxyCommand=touch /tmp/pwned/x",
        "ssh://-oProxyCommand=x/y",
        "git@github.com:alice/app.git",
        "http://github.com/alice/app.git",
        "https://github.com/alice/app.git; rm -rf /",
        "https://github.com/alice/app.git && id",
        "https://github.com/alice/$(id).git",
        "https://github.com/alice/`id`.git",
        "https://github.com/alice/app.git|id",
        "https://github.com/alice/app .git",
        "https://github.com/alice/app.git\n",
        "https://github.com/alice/app\t.git",
        "https://alice:secret@github.com/alice/app.git",
        "https://github.com/",
        "https:///alice/app.git",
        "",
    ],
)
def test_bad_urls_are_refused(url, settings):
    settings.ALLOW_LOCAL_REPOSITORIES = False
    with pytest.raises(InvalidSource):
        validate_repository_url(url)


@pytest.mark.parametrize("url", ["file:///srv/git/app.git", "/srv/git/app.git"])
def test_local_repositories_only_when_allowed(url, settings):
    settings.ALLOW_LOCAL_REPOSITORIES = False
    with pytest.raises(InvalidSource, match="not allowed"):
        validate_repository_url(url)
    settings.ALLOW_LOCAL_REPOSITORIES = True
    assert validate_repository_url(url) == url


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/git/alice/app.git", "http://localhost/alice/app.git"])
def test_http_on_this_machine_only_when_local_repositories_are_allowed(url, settings):
    settings.ALLOW_LOCAL_REPOSITORIES = False
    with pytest.raises(InvalidSource, match="Only https://"):
        validate_repository_url(url)
    settings.ALLOW_LOCAL_REPOSITORIES = True
    assert validate_repository_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://github.com/alice/app.git",
        "http://127.0.0.2/alice/app.git",
        "http://localhost.example.com/alice/app.git",
        "http://user:token@127.0.0.1:8080/alice/app.git",
        "http://127.0.0.1:8080/",
    ],
)
def test_other_http_urls_are_refused_even_when_local_repositories_are_allowed(url, settings):
    settings.ALLOW_LOCAL_REPOSITORIES = True
    with pytest.raises(InvalidSource):
        validate_repository_url(url)


@pytest.mark.parametrize("url", ["https://github.com/alice/app.git", "https://git.example.org:8443/team/app"])
def test_good_urls_pass(url, settings):
    settings.ALLOW_LOCAL_REPOSITORIES = False
    assert validate_repository_url(url) == url


@pytest.mark.parametrize("branch", ["main", "release/1.2", "feature_x-2"])
def test_good_branches(branch):
    assert validate_branch(branch) == branch


@pytest.mark.parametrize(
    "branch", ["-x", "--upload-pack=x", "a..b", "a b", "x;y", "ends/", "x.lock", "a@{1}"]
)
def test_bad_branches(branch):
    with pytest.raises(InvalidSource):
        validate_branch(branch)


@pytest.mark.parametrize("path", ["../etc", "a/../../b", "a b", "/abs/../x", "a/./b", "$(id)"])
def test_bad_subdirectories(path):
    with pytest.raises(InvalidSource):
        validate_subdirectory(path)


def test_subdirectory_is_normalised():
    assert validate_subdirectory("/services/api/") == "services/api"
    assert validate_subdirectory("") == ""


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "localhost", "0.0.0.0",  # noqa: S104  (this machine)
        "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1",  # private and shared networks
        "169.254.169.254",  # a cloud's metadata service
        "[::1]", "[fd00::1]", "[fe80::1]", "[::ffff:127.0.0.1]",  # the same in IPv6
    ],
)  # fmt: skip
def test_private_hosts_are_refused_for_https(settings, host):
    settings.ALLOW_LOCAL_REPOSITORIES = False
    with pytest.raises(UserError, match="private network"):
        source._refuse_private_host(f"https://{host}/alice/app.git")


@pytest.mark.parametrize("local_allowed", [False, True])
@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:6379", "127.1", "2130706433", "0x7f.0.0.1", "localhost", "app.localhost", "0.0.0.0",  # noqa: S104
        "10.0.0.1", "192.168.1.1:8443", "169.254.169.254",
    ],
)  # fmt: skip
def test_an_https_url_to_a_private_address_is_refused_before_any_clone(settings, host, local_allowed):
    # It used to pass the form and sit in "cloning" until the clone timed out.
    settings.ALLOW_LOCAL_REPOSITORIES = local_allowed
    with pytest.raises(InvalidSource, match="is on a private network"):
        validate_repository_url(f"https://{host}/x/y.git")


def test_http_to_this_machine_gets_the_same_refusal_as_any_http_url(settings):
    settings.ALLOW_LOCAL_REPOSITORIES = False
    for url in ("http://127.0.0.1:6379/x/y.git", "http://github.com/alice/app.git"):
        with pytest.raises(InvalidSource, match=r"^Only https:// repository URLs are supported\.$"):
            validate_repository_url(url)


def test_a_bad_url_never_reaches_git(tmp_path, settings):
    settings.ALLOW_LOCAL_REPOSITORIES = False
    with pytest.raises(InvalidSource):
        source.fetch("ext::sh -c id", "main", tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- The clone itself (README: "one commit of one branch is cloned shallow, with no
# submodules, no hooks, no prompts and a time limit"), with real git on real repositories.


def _lose_a_blob(repo, path: str, rev: str = "HEAD") -> None:
    """Delete one file's object from the repository: any clone that needs it fails."""
    blob = repo.git("rev-parse", f"{rev}:{path}")
    (repo.path / ".git" / "objects" / blob[:2] / blob[2:]).unlink()


def test_only_the_newest_commit_of_the_branch_is_fetched(make_repo, tmp_path, settings):
    settings.ALLOW_LOCAL_REPOSITORIES = True
    repo = make_repo("static-site")
    repo.commit("an old file", {"old.txt": "only in history"})
    repo.git("rm", "-q", "old.txt")
    tip = repo.commit("the old file goes")
    repo.git("checkout", "-q", "-b", "other")
    repo.commit("another branch", {"other.txt": "only on another branch"})
    repo.git("checkout", "-q", "main")
    # A history or another branch that is fetched would need these objects, and fail.
    _lose_a_blob(repo, "old.txt", "HEAD~1")
    _lose_a_blob(repo, "other.txt", "other")
    url = f"file://{repo.path}"  # not a plain path: git ignores --depth for those

    checkout = source.fetch(url, "main", tmp_path / "work")
    assert checkout.commit_sha == tip
    assert sorted(p.name for p in (checkout.root / "src").iterdir()) == ["index.html"]
    checkout.remove()
    # The same repository, cloned as git does by default, fails: the test does not pass by luck.
    whole = subprocess.run(["git", "clone", "-q", url, str(tmp_path / "whole")], capture_output=True)
    assert whole.returncode != 0


def test_submodules_are_not_fetched_and_no_hook_runs(make_repo, tmp_path, settings, monkeypatch):
    settings.ALLOW_LOCAL_REPOSITORIES = True
    inner = make_repo("static-site")
    repo = make_repo("python-dockerfile")
    repo.git(
        "-c", "protocol.file.allow=always", "submodule", "add", "-q", f"file://{inner.path}", "vendor/inner"
    )
    repo.commit("a submodule")
    # Hooks come from git's templates: a worker machine whose git has a post-checkout
    # hook there (a packager's, an operator's) must not run it for a tenant's clone.
    templates = tmp_path / "templates"
    (templates / "hooks").mkdir(parents=True)
    ran = tmp_path / "the-hook-ran"
    hook = templates / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {ran}\n")
    hook.chmod(0o755)
    real_env = source._git_env
    monkeypatch.setattr(
        source, "_git_env", lambda *a, **k: {**real_env(*a, **k), "GIT_TEMPLATE_DIR": str(templates)}
    )

    checkout = source.fetch(f"file://{repo.path}", "main", tmp_path / "work")
    src = checkout.root / "src"
    assert (src / ".gitmodules").is_file()
    assert list((src / "vendor" / "inner").iterdir()) == []
    assert not ran.exists()
    checkout.remove()
    # The same template does run its hook in a plain clone: the test would see one.
    env = {**os.environ, "GIT_TEMPLATE_DIR": str(templates)}
    subprocess.run(["git", "clone", "-q", str(repo.path), str(tmp_path / "plain")], env=env, check=True)
    assert ran.exists()


def test_a_clone_that_hangs_is_stopped_at_clone_timeout(tmp_path, settings):
    settings.ALLOW_LOCAL_REPOSITORIES = True
    settings.CLONE_TIMEOUT = 2
    # A git server that takes the connection and never answers.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/alice/app.git"
        with pytest.raises(UserError, match=r"^Cloning .* took too long and was stopped\.$"):
            source.fetch(url, "main", tmp_path / "work")
    assert list((tmp_path / "work").iterdir()) == []
