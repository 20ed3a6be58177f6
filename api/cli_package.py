"""The `m3o` command as a wheel, built from this checkout the first time someone asks for it.

A laptop installs it with pip or pipx straight from the portal, so the version it
gets always matches the server. Built with the venv's own setuptools and pip, no
network: the wheel holds only the `cli` package and declares click and requests.
"""

import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from django.conf import settings


class PackageError(Exception):
    pass


def _sources() -> list[Path]:
    root = settings.BASE_DIR
    return [root / "pyproject.toml", *sorted((root / "cli").glob("*.py"))]


def version() -> str:
    return tomllib.loads((settings.BASE_DIR / "pyproject.toml").read_text())["project"]["version"]


def wheel_name() -> str:
    return f"m3o-{version()}-py3-none-any.whl"


def wheel() -> Path:
    """The wheel for the current sources, built once per change of them."""
    digest = hashlib.sha256()
    for source in _sources():
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    folder = settings.VAR_DIR / "cli" / digest.hexdigest()[:16]
    target = folder / wheel_name()
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    # Two web workers asked at once: the second waits for the first's wheel.
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            _build(folder)
    return target


def _build(folder: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="m3o-cli-") as tmp:
        source = Path(tmp) / "src"
        (source / "cli").mkdir(parents=True)
        shutil.copy(settings.BASE_DIR / "pyproject.toml", source)
        for module in (settings.BASE_DIR / "cli").glob("*.py"):
            shutil.copy(module, source / "cli")
        command = [
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
            "--no-index", "--wheel-dir", tmp, str(source),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        built = Path(tmp) / wheel_name()
        if done.returncode != 0 or not built.exists():
            raise PackageError(f"Building the m3o wheel failed: {done.stderr.strip()[-2000:]}")
        shutil.move(built, folder / wheel_name())
