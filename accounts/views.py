from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from accounts import github
from accounts.actions import deploy_github_repository, service_name_for
from accounts.forms import GitHubDeployForm
from deployments.actions import ActionError, NeedsConfirmation
from deployments.forms import DeployForm
from deployments.queries import deploy_targets


@login_required
def onboarding(request):
    context = {
        "form": DeployForm(
            environments=deploy_targets(request.user).select_related("owner"), user=request.user
        ),
        "github_configured": bool(settings.GITHUB_CLIENT_ID),
        "github_connected": SocialAccount.objects.filter(user=request.user, provider="github").exists(),
    }
    return render(request, "accounts/onboarding.html", context)


def _not_connected(request):
    return render(
        request,
        "accounts/github_repositories.html",
        {"connected": False, "github_configured": bool(settings.GITHUB_CLIENT_ID)},
    )


@login_required
def github_repositories(request):
    """The requester's own repositories, listed with their own token."""
    token = github.user_token(request.user)
    if not token:
        return _not_connected(request)
    repositories, error = [], ""
    try:
        repositories = github.list_repositories(token)
    except github.GitHubError as exc:
        error = str(exc)
    return render(
        request,
        "accounts/github_repositories.html",
        {"connected": True, "repositories": repositories, "error": error},
    )


@login_required
def github_repository(request, owner: str, repo: str):
    """Choose the branch, folder, name and environment for one repository, and deploy it."""
    token = github.user_token(request.user)
    if not token:
        return redirect("github_repositories")
    try:
        full_name = github.validate_full_name(f"{owner}/{repo}")
    except github.GitHubError:
        raise Http404("Not a repository name") from None
    targets = deploy_targets(request.user).select_related("owner")
    form = GitHubDeployForm(request.POST or None, environments=targets, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            deployment = deploy_github_repository(request.user, full_name, **form.cleaned_data)
        except NeedsConfirmation as exc:
            form.ask_to_replace(str(exc))
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("deployment", deployment_id=deployment.pk)
    try:
        repository = github.get_repository(token, full_name)
    except github.NotFound:
        raise Http404("No such repository for this GitHub account") from None
    except github.GitHubError as exc:
        return render(
            request,
            "accounts/github_repositories.html",
            {"connected": True, "repositories": [], "error": str(exc)},
            status=502,
        )
    try:
        branches = github.list_branches(token, full_name)
    except github.GitHubError:
        branches = []
    if not form.is_bound:
        form = GitHubDeployForm(
            initial={"branch": repository.default_branch, "name": service_name_for(repository.name)},
            environments=targets,
            user=request.user,
        )
    return render(
        request,
        "accounts/github_repository.html",
        {"repository": repository, "branches": branches, "form": form},
        status=400 if form.is_bound else 200,
    )
