"""Repository URLs, branches and paths are checked before git ever runs."""

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
