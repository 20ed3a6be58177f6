"""The GitHub client, the repository picker and private clones, against the local fake GitHub."""

import base64
from datetime import timedelta

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from git.cmd import Git

from accounts import github
from accounts.actions import deploy_github_repository, service_name_for
from deployments import actions, source
from deployments.errors import UserError
from deployments.models import Deployment, LogLine, Service
from environments.models import Environment
from tests.conftest import log_text, wait_for

pytest_plugins = ["tests.fakes.github", "tests.queues"]


def connect(user, gh_user) -> None:
    """Link a portal user to a fake GitHub user, as signing in with GitHub leaves them."""
    account = SocialAccount.objects.create(user=user, provider="github", uid=str(gh_user.id), extra_data={})
    SocialToken.objects.create(account=account, token=gh_user.token)


@pytest.fixture
def octo(fake_github):
    user = fake_github.add_user("octo", "octo@example.com")
    fake_github.add_repository(user, "site", app="static-site", private=True, language="HTML")
    fake_github.add_repository(user, "Public_Tool", app="python-detected", language="Python")
    return user


# --- the client ------------------------------------------------------------------


def test_list_repositories_follows_every_page(fake_github, octo):
    for n in range(5):
        fake_github.add_repository(octo, f"extra-{n}", language=None)
    fake_github.max_per_page = 2

    repositories = github.list_repositories(octo.token)

    assert [r.full_name for r in repositories] == [
        "octo/site", "octo/Public_Tool", *(f"octo/extra-{n}" for n in range(5))
    ]  # fmt: skip
    site = repositories[0]
    assert (site.private, site.default_branch, site.language, site.admin) == (True, "main", "HTML", True)
    assert site.clone_url == f"{fake_github.url}/git/octo/site.git"
    pages = fake_github.seen("/api/user/repos")
    assert len(pages) == 4
    assert "per_page=100" in pages[0].path
    for request in pages:
        assert request.headers["Authorization"] == f"Bearer {octo.token}"
        assert request.headers["Accept"] == "application/vnd.github+json"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_a_bad_token_is_a_github_error_that_never_names_it(fake_github, octo):
    with pytest.raises(github.GitHubError, match="reconnect GitHub") as caught:
        github.list_repositories("gho_not-a-real-token")
    assert "gho_not-a-real-token" not in str(caught.value)


def test_someone_elses_private_repository_is_not_found(fake_github, octo):
    stranger = fake_github.add_user("stranger", "stranger@example.com")
    with pytest.raises(github.NotFound):
        github.get_repository(stranger.token, "octo/site")
    assert github.get_repository(stranger.token, "octo/Public_Tool").admin is False


def test_an_unreachable_github_is_a_github_error(fake_github, octo, settings):
    settings.GITHUB_API_URL = "http://127.0.0.1:9"
    with pytest.raises(github.GitHubError, match="could not be reached") as caught:
        github.get_repository(octo.token, "octo/site")
    assert octo.token not in str(caught.value)


def test_links_away_from_the_api_are_not_followed(fake_github, octo):
    with pytest.raises(github.GitHubError, match="not followed"):
        github._request("GET", octo.token, "http://evil.example/api/user/repos")
    assert not fake_github.requests


@pytest.mark.parametrize("name", ["octo", "octo/site/x", "../x", "octo/..", "octo/si te", "-/x?y"])
def test_bad_repository_names_never_reach_github(fake_github, octo, name):
    with pytest.raises(github.GitHubError):
        github.get_repository(octo.token, name)
    assert not fake_github.requests


@pytest.mark.parametrize(
    "data",
    [[], {"full_name": "octo/site"}, {"full_name": "octo/site", "private": "yes", "name": "site"}, None],
)
def test_answers_of_the_wrong_shape_are_refused(data):
    with pytest.raises(github.GitHubError, match="could not be understood"):
        github._repository(data)


def test_branches_are_listed(fake_github, octo):
    [branch] = github.list_branches(octo.token, "octo/site")
    assert branch.name == "main"
    assert len(branch.sha) == 40


def test_a_push_webhook_is_registered_with_the_secret(fake_github, octo):
    hook_id = github.create_push_webhook(
        octo.token, "octo/site", "https://m3o.example/hooks/github/", "s3cr3t"
    )
    [hook] = fake_github.hooks
    assert hook["id"] == hook_id
    assert hook["events"] == ["push"]
    assert hook["config"] == {
        "url": "https://m3o.example/hooks/github/",
        "content_type": "json",
        "secret": "s3cr3t",
        "insecure_ssl": "0",
    }


def test_a_token_without_hook_rights_gets_none(fake_github, octo):
    octo.can_add_hooks = False
    assert github.create_push_webhook(octo.token, "octo/site", "https://x.example/hooks/github/", "s") is None
    assert fake_github.hooks == []


def test_the_users_token_is_found_unless_expired(alice, bob, fake_github, octo):
    connect(alice, octo)
    assert github.user_token(alice) == octo.token
    assert github.user_token(bob) is None
    SocialToken.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert github.user_token(alice) is None


@pytest.mark.parametrize(
    ("repository", "name"),
    [("site", "site"), ("Public_Tool", "public-tool"), ("42", "app-42"), ("x" * 40, "x" * 30), ("--", "app")],
)
def test_service_names_from_repository_names(repository, name):
    assert service_name_for(repository) == name


# --- cloning with the token ----------------------------------------------------------


def test_a_private_repository_clones_with_the_token_and_not_without(fake_github, octo, tmp_path, settings):
    settings.ALLOW_LOCAL_REPOSITORIES = True
    url = f"{fake_github.url}/git/octo/site.git"

    checkout = source.fetch(url, "main", tmp_path, token=octo.token)
    assert (checkout.root / "src" / "index.html").is_file()
    checkout.remove()

    for token in (None, "gho_wrong-token"):
        with pytest.raises(UserError, match="is private or does not exist") as caught:
            source.fetch(url, "main", tmp_path, token=token)
        assert "gho_" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []

    basic = base64.b64encode(f"x-access-token:{octo.token}".encode()).decode()
    git_requests = fake_github.seen("/git/")
    assert any(r.headers.get("Authorization") == f"Basic {basic}" for r in git_requests)
    assert not [r for r in fake_github.requests if octo.token in r.path or basic in r.path]


def test_the_token_reaches_git_only_through_its_environment(
    fake_github, octo, tmp_path, settings, monkeypatch
):
    settings.ALLOW_LOCAL_REPOSITORIES = True
    calls = []
    execute = Git.execute

    def spy(self, command, **kwargs):
        calls.append((command, kwargs.get("env") or {}))
        return execute(self, command, **kwargs)

    monkeypatch.setattr(Git, "execute", spy)
    source.fetch(f"{fake_github.url}/git/octo/site.git", "main", tmp_path, token=octo.token).remove()

    (clone, env), *_ = calls
    assert "clone" in clone
    basic = base64.b64encode(f"x-access-token:{octo.token}".encode()).decode()
    assert not [arg for command, _ in calls for arg in command if octo.token in arg or basic in arg]
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"] == f"Authorization: Basic {basic}"


# --- the action and the picker -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_deploying_a_picked_repository_marks_it_private_and_adds_the_hook(
    alice, fake_github, octo, deploy_queue, settings
):
    connect(alice, octo)

    deployment = deploy_github_repository(alice, "octo/site")

    service = deployment.service
    service.refresh_from_db()
    assert (service.name, service.github_repository, service.is_private) == ("site", "octo/site", True)
    assert service.repository_url == f"{fake_github.url}/git/octo/site.git"
    assert deploy_queue.deployments() == [deployment.pk]
    [hook] = fake_github.hooks
    assert service.webhook_id == hook["id"]
    assert hook["config"]["secret"] == service.webhook_secret
    assert hook["config"]["url"] == f"{settings.SITE_URL}/hooks/github/"

    deploy_github_repository(alice, "octo/site")
    assert len(fake_github.hooks) == 1, "a redeploy adds no second hook"

    actions.deploy_repository(alice, name="site", repository_url="https://example.com/x/y.git")
    service.refresh_from_db()
    assert (service.github_repository, service.is_private) == ("", False)


@pytest.mark.django_db(transaction=True)
def test_without_hook_rights_the_webhook_is_left_to_the_owner(alice, fake_github, octo, deploy_queue):
    octo.can_add_hooks = False
    connect(alice, octo)
    deployment = deploy_github_repository(alice, "octo/site", name="web", branch="main")
    deployment.service.refresh_from_db()
    assert deployment.service.webhook_id is None
    assert deploy_queue.deployments() == [deployment.pk], "it deploys all the same"


@pytest.mark.django_db
def test_bob_cannot_deploy_alices_private_repository(alice, bob, fake_github, octo, deploy_queue, client):
    connect(bob, fake_github.add_user("bobby", "bob@example.com"))
    with pytest.raises(actions.ActionError, match="was not found"):
        deploy_github_repository(bob, "octo/site")
    client.force_login(bob)
    assert client.get(reverse("github_repository", args=["octo", "site"])).status_code == 404
    response = client.post(reverse("github_repository", args=["octo", "site"]), {
        "branch": "main", "name": "site", "environment": "production"})  # fmt: skip
    assert response.status_code == 404
    assert not Deployment.objects.exists()
    assert b"octo/site" not in client.get(reverse("github_repositories")).content
    assert deploy_queue.tasks() == []


@pytest.mark.django_db
def test_an_unconnected_user_is_asked_to_connect(alice, fake_github, client):
    client.force_login(alice)
    response = client.get(reverse("github_repositories"))
    assert b"Connect GitHub" in response.content
    assert client.get(reverse("github_repository", args=["octo", "site"])).url == reverse(
        "github_repositories"
    )
    with pytest.raises(actions.ActionError, match="Connect GitHub first"):
        deploy_github_repository(alice, "octo/site")


@pytest.mark.django_db
def test_the_picker_lists_and_deploys_without_showing_the_token(
    alice, fake_github, octo, deploy_queue, client, django_capture_on_commit_callbacks
):
    connect(alice, octo)
    client.force_login(alice)

    listing = client.get(reverse("github_repositories")).content.decode()
    assert 'data-repository="octo/site"' in listing
    assert "private" in listing
    assert "Python" in listing
    form = client.get(reverse("github_repository", args=["octo", "Public_Tool"])).content.decode()
    assert 'value="public-tool"' in form
    assert 'value="main"' in form

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("github_repository", args=["octo", "site"]), {
            "branch": "main", "subdirectory": "", "name": "my-site",
            "environment": "new", "new_environment": "staging"})  # fmt: skip
    deployment = Deployment.objects.get(service__name="my-site")
    assert deploy_queue.deployments() == [deployment.pk]
    assert response.url == reverse("deployment", args=[deployment.pk])
    assert deployment.service.environment.name == "staging"
    for page in (listing, form, client.get(response.url).content.decode()):
        assert octo.token not in page


@pytest.mark.django_db
def test_the_picker_asks_before_a_service_is_switched_to_another_repository(
    alice, fake_github, octo, deploy_queue, client
):
    connect(alice, octo)
    web = actions.deploy_repository(alice, name="site", repository_url="https://example.com/x/y.git").service
    client.force_login(alice)
    form = {"branch": "main", "subdirectory": "", "name": "site", "environment": web.environment_id}
    asked = client.post(reverse("github_repository", args=["octo", "site"]), form)
    assert asked.status_code == 400
    assert b"already has a service called site, deployed from https://example.com/x/y.git" in asked.content
    assert b'type="checkbox" name="replace"' in asked.content
    web.refresh_from_db()
    assert (web.repository_url, web.github_repository, web.deployments.count()) == (
        "https://example.com/x/y.git",
        "",
        1,
    )
    confirmed = client.post(reverse("github_repository", args=["octo", "site"]), form | {"replace": "on"})
    assert confirmed.status_code == 302
    web.refresh_from_db()
    assert (web.repository_url, web.github_repository) == (
        f"{fake_github.url}/git/octo/site.git",
        "octo/site",
    )


# --- a private repository through the real worker ------------------------------------------


@pytest.mark.docker
def test_a_private_repository_deploys_and_the_token_is_never_shown(alice, github_worker, fake_github, octo):
    connect(alice, octo)
    deployment = wait_for(deploy_github_repository(alice, "octo/site"))
    assert deployment.state == Deployment.State.RUNNING, log_text(deployment)

    basic = base64.b64encode(f"x-access-token:{octo.token}".encode()).decode()
    texts = [*LogLine.objects.values_list("text", flat=True), deployment.failure_reason]
    assert not [t for t in texts if octo.token in t or basic in t]
    assert not [r for r in fake_github.requests if octo.token in r.path or basic in r.path]
    assert fake_github.seen("/git/octo/site.git/git-upload-pack")


@pytest.mark.docker
def test_a_private_repository_without_a_token_fails_with_a_reason(alice, github_worker, fake_github, octo):
    with transaction.atomic():
        deployment = actions.deploy_repository(
            alice, name="site", repository_url=fake_github.clone_url(fake_github.repos["octo/site"])
        )
        Service.objects.filter(pk=deployment.service_id).update(
            is_private=True, github_repository="octo/site"
        )
    deployment = wait_for(deployment)
    assert deployment.state == Deployment.State.FAILED
    assert deployment.failure_reason == (
        "Reconnect GitHub: the token for private repository octo/site is missing or expired."
    )


@pytest.mark.django_db
def test_the_picker_offers_only_the_persons_environments_and_a_typo_makes_none(
    alice, bob, fake_github, octo, deploy_queue, client
):
    connect(alice, octo)
    production = actions.deploy_repository(alice, name="web", repository_url="https://example.com/x/y.git")
    theirs = actions.deploy_repository(bob, name="web", repository_url="https://example.com/b/y.git")
    client.force_login(alice)
    url = reverse("github_repository", args=["octo", "site"])
    page = client.get(url).content.decode()
    assert f'<option value="{production.service.environment_id}" selected>production</option>' in page
    assert f'value="{theirs.service.environment_id}"' not in page
    form = {"branch": "main", "subdirectory": "", "name": "site"}
    for environment in ("prodction", str(theirs.service.environment_id), "new"):
        refused = client.post(url, form | {"environment": environment, "new_environment": ""})
        assert refused.status_code == 400
    assert b"Name the new environment." in refused.content
    taken = client.post(url, form | {"environment": "new", "new_environment": "production"})
    assert b"You have production already: pick it from the list." in taken.content
    assert sorted(Environment.objects.values_list("owner__username", "name")) == [
        ("alice", "production"), ("bob", "production")]  # fmt: skip
    assert Deployment.objects.count() == 2
