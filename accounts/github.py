"""The one place that talks to the GitHub REST API: repositories, branches, webhooks.

The base URL is a setting (GitHub Enterprise, or the tests' local stand-in). Every
call has a timeout, every answer is checked for shape before use, and every
failure becomes a GitHubError in words for people: never with the token in it.
"""

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from allauth.socialaccount.models import SocialToken
from django.conf import settings
from django.utils import timezone

from accounts import sealed

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
PER_PAGE = 100
# 10 pages of 100: beyond that a person is better served by pasting a URL.
MAX_PAGES = 10
_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(Exception):
    """GitHub could not answer as needed; the message is for the person asking."""


class NotFound(GitHubError):
    """The repository does not exist, or the token may not see it."""


@dataclass(frozen=True)
class Repository:
    full_name: str
    name: str
    private: bool
    default_branch: str
    language: str
    clone_url: str
    html_url: str
    admin: bool
    # GitHub's reading of the LICENSE file: an SPDX id, "NOASSERTION", or "" for none.
    license_spdx_id: str = ""

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]

    @property
    def repo(self) -> str:
        return self.full_name.split("/")[1]

    @property
    def visibility(self) -> str:
        return "private" if self.private else "public"


@dataclass(frozen=True)
class Branch:
    name: str
    sha: str


def user_token(user) -> str | None:
    """The user's GitHub token from signing in or connecting, unless it has expired."""
    if user is None or not getattr(user, "pk", None):
        return None
    token = SocialToken.objects.filter(account__user=user, account__provider="github").order_by("-id").first()
    if token is None or not token.token:
        return None
    if token.expires_at and token.expires_at <= timezone.now():
        return None
    return sealed.unseal(token.token)


def is_github_url(url: str) -> bool:
    """A repository URL on this installation's GitHub, where a push webhook can be added."""
    host = urlsplit(url).hostname
    return bool(host) and host == urlsplit(settings.GITHUB_URL).hostname


def validate_full_name(full_name: str) -> str:
    if not _FULL_NAME.match(full_name or "") or any(p in (".", "..") for p in full_name.split("/")):
        raise GitHubError("That is not a GitHub repository name of the form owner/name.")
    return full_name


def _headers(token: str) -> dict[str, str]:
    return {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": "m3o-platform",
    }


def _request(method: str, token: str, url: str, **kwargs: Any) -> requests.Response:
    if not token:
        raise GitHubError("GitHub is not connected: connect it first.")
    # Only our configured API ever gets the token, whatever a Link header says.
    if not url.startswith(settings.GITHUB_API_URL + "/"):
        raise GitHubError("GitHub sent a link to somewhere else; it was not followed.")
    try:
        response = requests.request(
            method,
            url,
            headers=_headers(token),
            timeout=settings.GITHUB_TIMEOUT,
            allow_redirects=False,
            **kwargs,
        )
    except requests.Timeout:
        raise GitHubError("GitHub did not answer in time; try again in a moment.") from None
    except requests.RequestException as exc:
        log.warning("GitHub request %s %s failed: %s", method, url, type(exc).__name__)
        raise GitHubError("GitHub could not be reached; try again in a moment.") from None
    if response.status_code == 401:
        raise GitHubError("GitHub refused the token: reconnect GitHub.")
    if response.status_code == 403 and response.headers.get("X-RateLimit-Remaining") == "0":
        raise GitHubError("GitHub's rate limit for this account is used up; try again later.")
    return response


def _json(response: requests.Response, kind: type) -> Any:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, kind):
        raise GitHubError("GitHub sent an answer that could not be understood.")
    return data


def _expect_ok(response: requests.Response, what: str) -> None:
    if response.status_code == 404:
        raise NotFound(f"{what} was not found, or this GitHub account may not see it.")
    if response.status_code != 200:
        log.warning("GitHub answered %s for %s", response.status_code, what)
        raise GitHubError(f"GitHub could not return {what} (status {response.status_code}).")


def _str(data: dict, key: str, *, optional: bool = False) -> str:
    value = data.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise GitHubError("GitHub sent an answer that could not be understood.")
    return value


def _repository(data: Any) -> Repository:
    if not isinstance(data, dict):
        raise GitHubError("GitHub sent an answer that could not be understood.")
    private = data.get("private")
    permissions = data.get("permissions")
    if not isinstance(private, bool) or not isinstance(permissions, dict | None):
        raise GitHubError("GitHub sent an answer that could not be understood.")
    full_name = _str(data, "full_name")
    validate_full_name(full_name)
    return Repository(
        full_name=full_name,
        name=_str(data, "name"),
        private=private,
        default_branch=_str(data, "default_branch", optional=True) or "main",
        language=_str(data, "language", optional=True),
        clone_url=_str(data, "clone_url"),
        html_url=_str(data, "html_url"),
        admin=bool((permissions or {}).get("admin", False)),
        license_spdx_id=_license_of(data),
    )


def _license_of(data: dict) -> str:
    license_data = data.get("license")
    spdx_id = license_data.get("spdx_id") if isinstance(license_data, dict) else None
    return spdx_id if isinstance(spdx_id, str) else ""


def _next_link(response: requests.Response) -> str | None:
    match = _LINK_NEXT.search(response.headers.get("Link", ""))
    return match.group(1) if match else None


def _paginate(token: str, url: str, params: dict[str, Any], what: str) -> list[Any]:
    items: list[Any] = []
    next_url: str | None = url
    for _ in range(MAX_PAGES):
        if next_url is None:
            break
        response = _request("GET", token, next_url, params=params)
        _expect_ok(response, what)
        items.extend(_json(response, list))
        next_url = _next_link(response)
        # The next link carries the query already.
        params = {}
    return items


def list_repositories(token: str) -> list[Repository]:
    """Every repository the token's user may see, most recently pushed first."""
    items = _paginate(
        token,
        f"{settings.GITHUB_API_URL}/user/repos",
        {"per_page": PER_PAGE, "sort": "pushed", "affiliation": "owner,collaborator,organization_member"},
        "your repositories",
    )
    return [_repository(item) for item in items]


def get_repository(token: str, full_name: str) -> Repository:
    full_name = validate_full_name(full_name)
    response = _request("GET", token, f"{settings.GITHUB_API_URL}/repos/{full_name}")
    _expect_ok(response, f"The repository {full_name}")
    return _repository(_json(response, dict))


def list_branches(token: str, full_name: str) -> list[Branch]:
    full_name = validate_full_name(full_name)
    items = _paginate(
        token,
        f"{settings.GITHUB_API_URL}/repos/{full_name}/branches",
        {"per_page": PER_PAGE},
        f"The branches of {full_name}",
    )
    branches = []
    for item in items:
        commit = item.get("commit") if isinstance(item, dict) else None
        if not isinstance(commit, dict):
            raise GitHubError("GitHub sent an answer that could not be understood.")
        branches.append(Branch(name=_str(item, "name"), sha=_str(commit, "sha")))
    return branches


def create_push_webhook(token: str, full_name: str, url: str, secret: str) -> int | None:
    """Register a push webhook; None when the token may not (the owner adds it by hand)."""
    full_name = validate_full_name(full_name)
    response = _request(
        "POST",
        token,
        f"{settings.GITHUB_API_URL}/repos/{full_name}/hooks",
        json={
            "name": "web",
            "active": True,
            "events": ["push"],
            "config": {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
        },
    )
    if response.status_code in (403, 404):
        return None
    if response.status_code != 201:
        log.warning("GitHub answered %s to a new webhook on %s", response.status_code, full_name)
        raise GitHubError(f"GitHub did not add the webhook to {full_name} (status {response.status_code}).")
    hook_id = _json(response, dict).get("id")
    if not isinstance(hook_id, int) or isinstance(hook_id, bool):
        raise GitHubError("GitHub sent an answer that could not be understood.")
    return hook_id
