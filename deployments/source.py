"""The one place that talks to git: validate a repository URL, fetch one commit."""

import base64
import ipaddress
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from git import Repo
from git.cmd import Git
from git.exc import GitCommandError

from deployments.errors import UserError

# Characters that have no business in a repository URL and that a shell, git's
# transport helpers or an option parser could give meaning to.
_FORBIDDEN = re.compile(r"[\s;|&$`<>(){}\[\]'\"\\*?!#^~]")
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)(?!.*@\{)[A-Za-z0-9._/-]{1,200}(?<![./])$")
_SUBDIR_PART = re.compile(r"^[A-Za-z0-9._-]+$")
_LOCAL_HOSTS = ("127.0.0.1", "localhost")


class InvalidSource(ValueError):
    """The URL, branch or path is refused before git ever runs."""


def validate_repository_url(url: str) -> str:

    if not url:
        raise InvalidSource("Enter a repository URL.")
    if len(url) > 500:
        raise InvalidSource("The repository URL is too long.")
    if url.startswith("-"):
        raise InvalidSource("A repository URL cannot start with a dash.")
    if _FORBIDDEN.search(url) or any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidSource("The repository URL contains spaces or characters that are not allowed.")
    local_allowed = settings.ALLOW_LOCAL_REPOSITORIES
    if url.startswith("/"):
        if not local_allowed and not is_upload(url):
            raise InvalidSource("Local paths are not allowed; use an https:// URL.")
        return url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if not local_allowed:
            raise InvalidSource("file:// URLs are not allowed; use an https:// URL.")
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise InvalidSource("A file:// URL must name an absolute path on this machine.")
        return url
    local_http = scheme == "http" and local_allowed and parts.hostname in _LOCAL_HOSTS
    if scheme != "https" and not local_http:
        if local_allowed:
            raise InvalidSource(
                "Only https:// repository URLs are supported, and http:// only to a git server "
                "on this machine (127.0.0.1 or localhost)."
            )
        raise InvalidSource("Only https:// repository URLs are supported.")
    if parts.username or parts.password or "@" in parts.netloc:
        raise InvalidSource("Put no user name or password in the URL.")
    host = parts.hostname or ""
    if not host or host.startswith("-") or not re.fullmatch(r"[A-Za-z0-9.-]+", host):
        raise InvalidSource("The repository URL has no valid host name.")
    if not local_http and _names_private_address(host):
        # Said at once, in the form: a clone would only sit there until it timed out.
        raise InvalidSource(f"The repository host {host} is on a private network; use a public address.")
    if not parts.path.strip("/"):
        raise InvalidSource("The repository URL names no repository.")
    return url


def _names_private_address(host: str) -> bool:
    """`host` is written as an address (any of the forms git's resolver takes) that is not public.

    Names are looked up only when cloning (`_refuse_private_host`): the web
    process does not wait for DNS.
    """
    lowered = host.lower().rstrip(".")
    if lowered == "localhost" or lowered.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(lowered)
    except ValueError:
        try:
            # 127.1, 2130706433, 0x7f.0.0.1: forms inet_aton and so git's resolver take.
            address = ipaddress.IPv4Address(socket.inet_aton(lowered))
        except OSError:
            return False
    return not address.is_global


def is_upload(path: str) -> bool:
    """A repository the platform made from an uploaded folder (`m3o run .`): always allowed.

    Resolved first, so `..` or a symlink cannot lead out of UPLOADS_DIR.
    """
    root = Path(settings.UPLOADS_DIR).resolve()
    return path.startswith("/") and root in Path(path).resolve().parents


def upload_path(environment_id: int, service_name: str) -> Path:
    """The one folder where `m3o run .` keeps the uploads of one service of one environment."""
    return Path(settings.UPLOADS_DIR) / str(int(environment_id)) / f"{service_name}.git"


def _local_path(url: str) -> str | None:
    if url.startswith("/"):
        return url
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return unquote(parts.path)  # git reads %-escapes in file:// URLs too
    return None


def check_upload_owner(url: str, environment_id: int, service_name: str) -> None:
    """Refuse a local path into UPLOADS_DIR unless it is this service's own upload folder.

    Uploads are kept by environment and service name, and only the service's own
    folder (written exactly as upload_path() writes it: no `..`, no other id, no link
    in its place) may be its source; anything else there belongs to someone else.
    """
    path = _local_path(url)
    if path is None:
        return
    root = Path(settings.UPLOADS_DIR)
    lexical, resolved = Path(os.path.normpath(path)), Path(path).resolve()
    touches = any(
        place == top or top in place.parents
        for place in (lexical, resolved)
        for top in (root, root.resolve())
    )
    if not touches:
        return
    own = upload_path(environment_id, service_name)
    if path != str(own) or resolved != own.resolve() or own.is_symlink() or own.parent.is_symlink():
        raise InvalidSource(
            "That upload folder is not this service's: upload the folder with `m3o run .` to deploy it here."
        )


def copy_upload(service_name: str, from_environment_id: int, to_environment_id: int) -> str:
    """The service's upload folder, copied for its namesake in a copied environment.

    Each folder keeps one owner: the copy deploys from its own, and deleting either
    service leaves the other's alone. Returns the copy's path.
    """
    origin = upload_path(from_environment_id, service_name)
    copy = upload_path(to_environment_id, service_name)
    if not copy.exists() and origin.is_dir() and not origin.is_symlink():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(origin, copy, symlinks=True)
    return str(copy)


def validate_branch(branch: str) -> str:

    if not _BRANCH.match(branch) or branch.endswith(".lock"):
        raise InvalidSource(f"{branch!r} is not a valid branch name.")
    return branch


def validate_subdirectory(path: str) -> str:
    path = path.strip().strip("/")
    if not path:
        return ""
    parts = path.split("/")
    if any(p in ("", ".", "..") or not _SUBDIR_PART.match(p) for p in parts):
        raise InvalidSource(
            "The subdirectory must be a relative path of letters, digits, dots, dashes and underscores."
        )
    return path


@dataclass
class Checkout:
    root: Path
    commit_sha: str
    commit_message: str
    commit_author: str

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _refuse_private_host(url: str) -> None:
    """Keep https clones away from this machine's own network (SSRF)."""
    host = urlsplit(url).hostname
    if not host or settings.ALLOW_LOCAL_REPOSITORIES:
        return
    try:
        infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise UserError(f"The repository host {host} could not be found.") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise UserError(f"The repository host {host} is on a private network.")


def _git_env(home: Path, token: str | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_PROTOCOL_FROM_USER": "0",
        "LC_ALL": "C",
    }
    for name in ("GIT_SSL_CAINFO", "SSL_CERT_FILE", "SSL_CERT_DIR", "http_proxy", "https_proxy"):
        if name in os.environ:
            env[name] = os.environ[name]
    if token:
        # GitHub's scheme for a token over HTTPS, given in the environment: never
        # on the command line (the process list) nor in the URL (logs, errors).
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env["GIT_CONFIG_COUNT"] = "1"
        env["GIT_CONFIG_KEY_0"] = "http.extraHeader"
        env["GIT_CONFIG_VALUE_0"] = f"Authorization: Basic {basic}"
    return env


def _git_options(url: str, *, with_token: bool) -> list[str]:
    """git and the options every command that reaches a remote runs with."""
    allow_local = "always" if settings.ALLOW_LOCAL_REPOSITORIES else "never"
    allow_file = "always" if settings.ALLOW_LOCAL_REPOSITORIES or is_upload(url) else "never"
    # With a token, no redirect at all: it must not be sent anywhere else.
    follow = "false" if with_token else "initial"
    return [
        "git",
        "-c", "protocol.allow=never",
        "-c", "protocol.https.allow=always",
        "-c", f"protocol.file.allow={allow_file}",
        "-c", f"protocol.http.allow={allow_local}",
        "-c", f"http.followRedirects={follow}",
        "-c", "core.hooksPath=/dev/null",
        "-c", "core.symlinks=true",
        "-c", "submodule.recurse=false",
        "-c", "advice.detachedHead=false",
    ]  # fmt: skip


def _clone_args(url: str, branch: str, target: Path, *, with_token: bool = False) -> list[str]:
    return [
        *_git_options(url, with_token=with_token),
        "clone", "--quiet", "--depth=1", "--single-branch", "--no-tags",
        "--no-recurse-submodules", f"--branch={branch}",
        "--", url, str(target),
    ]  # fmt: skip


def _explain(exc: GitCommandError, url: str, branch: str) -> str:
    stderr = str(exc.stderr or "")
    if "Remote branch" in stderr and "not found" in stderr:
        return f"Branch {branch!r} was not found in {url}."
    if "could not read Username" in stderr or "Authentication failed" in stderr:
        return f"The repository {url} is private or does not exist."
    if "not found" in stderr.lower() or "does not appear to be a git repository" in stderr:
        return f"No repository was found at {url}."
    if "Could not resolve host" in stderr:
        return f"The host of {url} could not be found."
    if "Failed to connect" in stderr or "Connection refused" in stderr:
        return f"The repository {url} could not be reached."
    if "timed out" in stderr.lower() or exc.status == -9:
        return f"Cloning {url} took too long and was stopped."
    return f"The repository {url} could not be cloned."


def default_branch(url: str, workspace: Path, token: str | None = None) -> str:
    """The branch the remote's HEAD points at, as `git clone` without --branch would take."""
    url = validate_repository_url(url)
    _refuse_private_host(url)
    workspace.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="ls-remote-", dir=workspace))
    try:
        output = Git(str(home)).execute(
            [*_git_options(url, with_token=bool(token)), "ls-remote", "--symref", "--", url, "HEAD"],
            env=_git_env(home, token),
            kill_after_timeout=settings.CLONE_TIMEOUT,
        )
    except GitCommandError as exc:
        raise UserError(_explain(exc, url, "HEAD")) from None
    finally:
        shutil.rmtree(home, ignore_errors=True)
    for line in str(output).splitlines():
        match = re.match(r"^ref: refs/heads/(\S+)\tHEAD$", line)
        if match:
            try:
                return validate_branch(match.group(1))
            except InvalidSource:
                break
    raise UserError(f"The repository {url} names no default branch (its HEAD); choose a branch.")


def fetch(
    url: str, branch: str, workspace: Path, prefix: str = "checkout-", token: str | None = None
) -> Checkout:
    """Clone exactly one commit of `branch` into a new folder under `workspace`.

    `token` (a GitHub token, for a private repository) reaches git only through
    its environment. The caller owns the returned folder and removes it with
    Checkout.remove().
    """
    url = validate_repository_url(url)
    branch = validate_branch(branch)
    _refuse_private_host(url)
    workspace.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=workspace))
    home = root / "home"
    target = root / "src"
    home.mkdir()
    try:
        Git(str(root)).execute(
            _clone_args(url, branch, target, with_token=bool(token)),
            env=_git_env(home, token),
            kill_after_timeout=settings.CLONE_TIMEOUT,
        )
        commit = Repo(target).head.commit
        checkout = Checkout(
            root=root,
            commit_sha=commit.hexsha,
            commit_message=str(commit.summary)[:500],
            commit_author=str(commit.author.name or "")[:200],
        )
        # Without .git the build context is the same bytes for the same tree,
        # so the layer cache hits across deployments.
        shutil.rmtree(target / ".git")
        shutil.rmtree(home)
        return checkout
    except GitCommandError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise UserError(_explain(exc, url, branch)) from None
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def source_dir(checkout: Checkout, subdirectory: str) -> Path:
    """The service's folder inside the checkout, refusing symlinks that leave it."""
    base = (checkout.root / "src").resolve()
    folder = (base / subdirectory).resolve() if subdirectory else base
    if folder != base and base not in folder.parents:
        raise UserError(f"The subdirectory {subdirectory!r} points outside the repository.")
    if not folder.is_dir():
        raise UserError(f"The subdirectory {subdirectory!r} does not exist in this commit.")
    return folder
