"""A folder uploaded by `m3o run .` becomes a git repository the pipeline clones like any other.

The archive is checked member by member (no absolute paths, no `..`, no links,
no `.git`, bounded size and count), unpacked into a scratch folder, and
committed onto `main` of a bare repository under UPLOADS_DIR, one per service.
Each upload is one more commit, so the service's history reads like pushes.
"""

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from django.conf import settings

from deployments.actions import ActionError
from deployments.source import is_upload  # noqa: F401  (re-exported for the serializers)
from deployments.source import upload_path as repository_path  # noqa: F401  (for the views)

MAX_FILES = 20_000
# By its full path: the web process runs git with a PATH of its own choosing.
GIT = shutil.which("git") or "/usr/bin/git"
_GIT_TIMEOUT = 120


def _checked_members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    limit = settings.UPLOAD_MAX_MB * 1024 * 1024 * 4  # unpacked, generous for text
    members, total = [], 0
    for member in archive:
        parts = PurePosixPath(member.name).parts
        if member.name.startswith("/") or ".." in parts:
            raise ActionError(f"The upload contains a path outside its folder: {member.name!r}.")
        if ".git" in parts:
            continue
        if member.issym() or member.islnk():
            raise ActionError(f"The upload contains a link, which is not supported: {member.name!r}.")
        if not (member.isfile() or member.isdir()):
            raise ActionError(f"The upload contains a special file: {member.name!r}.")
        total += member.size
        members.append(member)
        if len(members) > MAX_FILES or total > limit:
            raise ActionError(
                f"The upload is too large unpacked (at most {MAX_FILES} files and {limit // 2**20} MB)."
            )
    return members


def _unpack(upload, target: Path) -> None:
    if upload.size > settings.UPLOAD_MAX_MB * 1024 * 1024:
        raise ActionError(f"The upload is larger than {settings.UPLOAD_MAX_MB} MB.")
    try:
        with tarfile.open(fileobj=upload, mode="r:gz") as archive:
            members = _checked_members(archive)
            if not any(m.isfile() for m in members):
                raise ActionError("The upload contains no files.")
            archive.extractall(target, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ActionError(f"The upload is not a readable .tar.gz archive ({exc}).") from None


def _git(repo: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [GIT, "-c", "core.hooksPath=/dev/null", f"--git-dir={repo}", *args],
        env={**_base_env(), **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=_GIT_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {args[0]} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def _base_env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }


def commit_upload(upload, repo: Path, author_email: str, message: str = "Uploaded with m3o run") -> str:
    """Unpack the archive and commit its files onto the repository's main; return the commit's sha."""
    uploads_dir = Path(settings.UPLOADS_DIR)
    uploads_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="upload-", dir=uploads_dir))
    try:
        tree_dir = scratch / "tree"
        tree_dir.mkdir()
        # Checked and unpacked before the repository exists: a refused upload leaves nothing behind.
        _unpack(upload, tree_dir)
        if not (repo / "HEAD").exists():
            repo.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [GIT, "init", "--quiet", "--bare", "--initial-branch=main", str(repo)],
                env=_base_env(), check=True, capture_output=True, timeout=_GIT_TIMEOUT,
            )  # fmt: skip
        # An index of its own per upload: what was removed from the folder leaves the tree too.
        env = {
            "GIT_INDEX_FILE": str(scratch / "index"),
            "GIT_WORK_TREE": str(tree_dir),
            "GIT_AUTHOR_NAME": author_email,
            "GIT_AUTHOR_EMAIL": author_email,
            "GIT_COMMITTER_NAME": "M3O",
            "GIT_COMMITTER_EMAIL": "noreply@m3o.invalid",
        }
        _git(repo, "add", "--all", "--force", ".", env=env, cwd=tree_dir)
        tree = _git(repo, "write-tree", env=env)
        parent = subprocess.run(
            [GIT, f"--git-dir={repo}", "rev-parse", "--verify", "--quiet", "refs/heads/main"],
            env=_base_env(), capture_output=True, text=True, timeout=_GIT_TIMEOUT, check=False,
        ).stdout.strip()  # fmt: skip
        commit = _git(repo, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", message, env=env)
        try:
            # With the old value: a second upload racing this one makes one of them fail, not vanish.
            _git(repo, "update-ref", "refs/heads/main", commit, parent or "0" * 40)
        except RuntimeError:
            raise ActionError("Another upload of this service came at the same time; try again.") from None
        return commit
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
