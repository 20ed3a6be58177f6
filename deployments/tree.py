"""Reading and removing trees that strangers wrote: checkouts, uploads, build contexts.

Git checks links out as links, so a repository decides where every name in
its tree leads. Every file the platform reads there (Dockerfile, Procfile,
package.json, .dockerignore, license and version files) is read through this
module: the name is resolved, must stay inside the tree, and is then opened
one component at a time with O_NOFOLLOW from the tree's own descriptor, so no
link is followed on the way. Only regular files are read, at most `limit`
bytes; a FIFO or a device in a file's place is refused before it is opened,
so it can never block the worker or touch hardware.
"""

import os
import shutil
import stat
from pathlib import Path

from deployments.errors import UserError

# Well above any Procfile, package.json or Dockerfile a person writes by hand.
DEFAULT_LIMIT = 1024 * 1024

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: should the file be swapped for a FIFO after the check, open() still returns.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class OutsideTree(UserError):
    """A name of the tree is a link that leads out of it."""


def _inside(root: Path, name: str) -> tuple[str, ...] | None:
    """The parts of `name` once its links are resolved, relative to `root`; None when it leads out."""
    base = root.resolve()
    target = (base / name).resolve()
    if target == base:
        return ()
    if base not in target.parents:
        return None
    return target.relative_to(base).parts


def _open_parent(root: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of the folder holding the last part, walked without following any link."""
    fd = os.open(root.resolve(), _DIRECTORY_FLAGS)
    try:
        for part in parts[:-1]:
            child = os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _regular(root: Path, name: str) -> tuple[int, str] | None:
    """(parent descriptor, file name) of a regular file of the tree, or None when there is none."""
    parts = _inside(root, name)
    if parts is None:
        if name.startswith("/") or ".." in name.split("/"):
            raise OutsideTree(f"{name} is not a path inside the repository.")
        raise OutsideTree(f"{name} is a link that points outside the repository.")
    if not parts:
        return None
    try:
        parent = _open_parent(root, parts)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:  # ELOOP: a link swapped in after resolving
        raise UserError(f"{name} could not be read ({exc.strerror}).") from None
    try:
        info = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        os.close(parent)
        return None
    if not stat.S_ISREG(info.st_mode):
        os.close(parent)
        if stat.S_ISDIR(info.st_mode):
            return None
        raise UserError(f"{name} is not a regular file (a FIFO, socket or device), so it was not read.")
    return parent, parts[-1]


def is_file(root: Path, name: str) -> bool:
    """Whether `name` is a regular file inside the tree (reached through links that stay inside).

    A link out of the tree raises OutsideTree: taking it for "no such file" would build
    something other than what the repository seems to say, without telling anyone.
    """
    try:
        found = _regular(root, name)
    except OutsideTree:
        raise
    except UserError:
        return False
    if found is None:
        return False
    os.close(found[0])
    return True


def read_bytes(root: Path, name: str, limit: int = DEFAULT_LIMIT, *, truncate: bool = False) -> bytes | None:
    """The file's bytes; None when there is no such regular file.

    Past `limit` the file is cut there when `truncate`, else refused as a user error.
    """
    found = _regular(root, name)
    if found is None:
        return None
    parent, last = found
    try:
        fd = os.open(last, _FILE_FLAGS, dir_fd=parent)
    except OSError as exc:
        raise UserError(f"{name} could not be read ({exc.strerror}).") from None
    finally:
        os.close(parent)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UserError(f"{name} is not a regular file, so it was not read.")
        data = handle.read(limit + 1)
    if len(data) > limit:
        if not truncate:
            raise UserError(f"{name} is larger than {limit // 1024} KB, more than the platform reads.")
        data = data[:limit]
    return data


def read_text(root: Path, name: str, limit: int = DEFAULT_LIMIT, *, truncate: bool = False) -> str | None:
    data = read_bytes(root, name, limit, truncate=truncate)
    return None if data is None else data.decode("utf-8", errors="replace")


def regular_files(root: Path) -> list[str]:
    """Names of the regular files at the top of the tree; links are left out, wherever they lead."""
    names = []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                names.append(entry.name)
    return sorted(names)


def remove(path: Path) -> None:
    """Remove a folder the platform made, never following a link in it or in its place.

    shutil.rmtree walks by descriptor and unlinks links without following them,
    but given a link as the top it would raise: unlink that instead.
    """
    if path.is_symlink():
        path.unlink(missing_ok=True)
        return
    shutil.rmtree(path, ignore_errors=True)
