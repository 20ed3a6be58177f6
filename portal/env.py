"""Strict helpers that read settings from environment variables.

Each raises ImproperlyConfigured on a value it cannot understand, so a typo in
production fails at start-up instead of silently taking a default. A secret
may come from a file: NAME_FILE=/run/secrets/name is read when NAME is unset.

Below the environment sits one optional file of NAME=value lines,
`var/local.env`, which `make run` writes (scripts/local-settings.sh): a laptop's
generated secret key, DEBUG and database path, so `manage.py`, the worker and
the tests started by hand in the same checkout see what `make run` sees. The
environment always wins; production, which has no such file, reads only it.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
# Filled by read_local_file(); never copied into os.environ, so the secret key
# does not leak into the environment of git, builds or other child processes.
_local: dict[str, str] = {}


def read_local_file(path: Path) -> None:
    """Take NAME=value lines from `path` as defaults below the environment."""
    _local.clear()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ImproperlyConfigured(f"{path} cannot be read: {exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ImproperlyConfigured(f"{path}, line {number}: expected NAME=value, not {line!r}")
        _local[name.strip()] = value.strip()


def _get(name: str, default: str | None = None) -> str | None:
    if name in os.environ:
        return os.environ[name]
    return _local.get(name, default)


_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str = "") -> str:
    return _get(name, default)


def envbool(name: str, default: bool = False) -> bool:
    raw = _get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def envint(name: str, default: int, minimum: int | None = None) -> int:
    raw = _get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def envfloat(name: str, default: float, minimum: float | None = None) -> float:
    raw = _get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def envlist(name: str, default: list[str] | None = None) -> list[str]:
    raw = _get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def envsecret(name: str, default: str | None = None) -> str | None:
    value = _get(name)
    if value is not None:
        return value
    path = _get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path} cannot be read: {exc}") from None
    return default


def envpath(name: str, default: str = "", must_exist: bool = False) -> str:
    value = _get(name, default)
    if value and must_exist and not Path(value).is_file():
        raise ImproperlyConfigured(f"{name}={value} is not a readable file")
    return value
