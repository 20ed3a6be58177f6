"""`m3o run .`: the folder as a .tar.gz, without what .gitignore leaves out, and not too big.

In a git work tree git itself says which files count (tracked, plus untracked
ones that are not ignored). Elsewhere a small walker reads the .gitignore files
with fnmatch: names, `dir/`, `/anchored`, `*` and `!negation`.
"""

from __future__ import annotations

import fnmatch
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path, PurePosixPath

from cli.client import CliError

MAX_PACKED_MB = 50
MAX_FILES = 20_000
GIT = shutil.which("git") or "git"


def _git_files(root: Path) -> list[str] | None:
    try:
        inside = subprocess.run(
            [GIT, "rev-parse", "--is-inside-work-tree"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        listed = subprocess.run(
            [GIT, "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=root, capture_output=True, check=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):  # no git here: the walker does it
        return None
    names = [name for name in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if name]
    # A tracked file deleted from the folder is not sent.
    return sorted(name for name in set(names) if (root / name).is_file() or (root / name).is_symlink())


def _read_patterns(folder: Path, base: PurePosixPath) -> list[tuple[PurePosixPath, str]]:
    try:
        text = (folder / ".gitignore").read_text(errors="replace")
    except OSError:
        return []
    lines = (line.strip() for line in text.splitlines())
    return [(base, line) for line in lines if line and not line.startswith("#")]


def _ignored(relative: PurePosixPath, is_dir: bool, patterns: list[tuple[PurePosixPath, str]]) -> bool:
    ignored = False
    for base, raw in patterns:
        try:
            inside = relative.relative_to(base) if str(base) != "." else relative
        except ValueError:
            continue
        pattern, negate = (raw[1:], True) if raw.startswith("!") else (raw, False)
        if pattern.endswith("/"):
            if not is_dir:
                continue
            pattern = pattern.rstrip("/")
        if "/" in pattern:
            hit = fnmatch.fnmatchcase(str(inside), pattern.lstrip("/"))
        else:
            hit = fnmatch.fnmatchcase(inside.name, pattern)
        if hit:
            ignored = not negate
    return ignored


def _walk_files(root: Path) -> list[str]:
    found = []
    patterns_of: dict[Path, list] = {}
    for folder, dirs, files in os.walk(root):
        current = Path(folder)
        relative_folder = PurePosixPath(current.relative_to(root).as_posix())
        patterns = patterns_of.get(current.parent, []) + _read_patterns(current, relative_folder)
        patterns_of[current] = patterns
        dirs[:] = sorted(d for d in dirs if d != ".git" and not _ignored(relative_folder / d, True, patterns))
        for name in sorted(files):
            if not _ignored(relative_folder / name, False, patterns):
                found.append(str(relative_folder / name))
    return [str(PurePosixPath(name)) for name in found]


def files_of(root: Path) -> list[str]:
    names = _git_files(root)
    return names if names is not None else _walk_files(root)


def pack(root: Path) -> tuple[bytes, int]:
    """The folder's files as a .tar.gz in memory, and how many files it holds."""
    names = files_of(root)
    if not names:
        raise CliError(f"There are no files to deploy in {root}.")
    if len(names) > MAX_FILES:
        raise CliError(f"{root} has more than {MAX_FILES} files; leave some out with .gitignore.")
    buffer = io.BytesIO()
    limit = MAX_PACKED_MB * 1024 * 1024
    with tarfile.open(fileobj=buffer, mode="w:gz", dereference=True) as archive:
        for name in names:
            path = root / name
            if not path.exists():
                continue  # a broken link
            archive.add(path, arcname=name, recursive=False)
            if buffer.tell() > limit:
                raise CliError(
                    f"{root} is more than {MAX_PACKED_MB} MB packed; leave out what the build "
                    "does not need with .gitignore."
                )
    return buffer.getvalue(), len(names)
