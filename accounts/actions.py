"""Deploying a repository picked from the user's GitHub account."""

import logging
import re

from django.conf import settings
from django.db import transaction

from accounts import github
from deployments.actions import ActionError, deploy_repository
from deployments.models import Deployment, Service

log = logging.getLogger(__name__)


def service_name_for(repository_name: str) -> str:
    """A valid service name from a repository name: lowercase, dashes, starting with a letter."""
    name = re.sub(r"[^a-z0-9]+", "-", repository_name.lower()).strip("-")[:30].strip("-")
    if not name or not name[0].isalpha():
        name = f"app-{name}"[:30].strip("-")
    return name


def deploy_github_repository(
    user,
    full_name: str,
    *,
    name: str = "",
    branch: str = "",
    subdirectory: str = "",
    environment="production",  # a name, or an Environment the picker offered
    replace: bool = True,
) -> Deployment:
    """Create or update a service from one of the user's repositories and deploy it.

    With `replace` false, a service of that name deploying another repository is
    left alone and NeedsConfirmation says so (the picker's form asks first).

    The repository is looked up with the user's own token, so nobody deploys a
    repository they cannot see. Once committed, a push webhook is registered
    when the token allows; otherwise the service page shows how to add it.
    """
    token = github.user_token(user)
    if not token:
        raise ActionError("Connect GitHub first: your GitHub token is missing or expired.")
    try:
        repository = github.get_repository(token, full_name)
    except github.GitHubError as exc:
        raise ActionError(str(exc)) from None
    with transaction.atomic():
        deployment = deploy_repository(
            user,
            name=name or service_name_for(repository.name),
            repository_url=repository.clone_url,
            branch=branch or repository.default_branch,
            subdirectory=subdirectory,
            environment=environment,
            replace=replace,
        )
        service = deployment.service
        service.github_repository = repository.full_name
        service.is_private = repository.private
        service.save(update_fields=["github_repository", "is_private"])
        if service.webhook_id is None:
            service_id = service.pk
            transaction.on_commit(lambda: register_push_webhook(service_id, token))
    return deployment


def register_push_webhook(service_id: int, token: str) -> int | None:
    """Add the push webhook to the service's repository; None when the token may not."""
    service = Service.objects.get(pk=service_id)
    url = f"{settings.SITE_URL.rstrip('/')}/hooks/github/"
    try:
        hook_id = github.create_push_webhook(token, service.github_repository, url, service.webhook_secret)
    except github.GitHubError as exc:
        log.warning("no webhook for service %s: %s", service_id, exc)
        return None
    if hook_id is not None:
        Service.objects.filter(pk=service_id, webhook_id__isnull=True).update(webhook_id=hook_id)
    return hook_id
