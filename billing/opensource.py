"""The open-source free tier: a repository qualifies when it is public and carries
an OSI-approved license.

Two witnesses: GitHub's API (`private`, `license.spdx_id`) when the repository is
on GitHub and the owner's token can ask, and the cloned tree's own LICENSE or
COPYING file. The tree decides when GitHub cannot be asked; when it can, the two
must agree.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from accounts import github
from billing import licenses, spdx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    qualifies: bool
    reason: str
    spdx_id: str = ""
    private: bool = False


def github_name(service) -> str | None:
    """owner/name when the service's repository is on our GitHub, else None."""
    if service.github_repository:
        return service.github_repository
    url = urlsplit(service.repository_url)
    if url.netloc != urlsplit(settings.GITHUB_URL).netloc:
        return None
    parts = url.path.strip("/").removesuffix(".git").split("/")
    return "/".join(parts) if len(parts) == 2 else None


def _ask_github(service) -> tuple[github.Repository | None, str]:
    """GitHub's metadata for the repository, or None and why it was not used."""
    name = github_name(service)
    if name is None:
        return None, "not on GitHub"
    token = github.user_token(service.environment.owner)
    if not token:
        return None, "GitHub is not connected"
    try:
        return github.get_repository(token, name), ""
    except github.GitHubError as exc:
        log.info("license check of %s without GitHub: %s", name, exc)
        return None, "GitHub could not be asked"


def check(service, tree: Path) -> Verdict:
    remote, why_not = _ask_github(service)
    if service.is_private or (remote is not None and remote.private):
        return Verdict(False, "repository is private", private=True)
    found = licenses.find(tree)
    if found is None:
        return Verdict(False, "no license file")
    if found.spdx_id is None:
        return Verdict(False, f"the license in {found.path} is not one we know to be OSI-approved")
    spdx_id = found.spdx_id
    if not spdx.is_osi_approved(spdx_id):
        return Verdict(False, f"license {spdx_id} is not OSI-approved", spdx_id)
    if remote is not None and not spdx.same_license(remote.license_spdx_id, spdx_id):
        github_says = remote.license_spdx_id or "no license"
        return Verdict(
            False, f"GitHub reads the license as {github_says} but {found.path} reads as {spdx_id}"
        )
    source = "" if remote is not None else f" (read from {found.path}; {why_not})"
    return Verdict(True, f"license {spdx_id} is OSI-approved{source}", spdx_id)
