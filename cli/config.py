"""Where `m3o` keeps the server's address, the token and the current environment.

A JSON file in the user's config directory, readable by the user alone.
M3O_URL, M3O_TOKEN and M3O_ENV in the environment win over the file, so a
script or CI job needs no file at all.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import click

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_ENVIRONMENT = "production"


def path() -> Path:
    return Path(click.get_app_dir("m3o")) / "config.json"


def read_file() -> dict:
    try:
        data = json.loads(path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"Cannot read {path()}: {exc}; remove it and log in again.") from None
    return data if isinstance(data, dict) else {}


def write_file(data: dict) -> Path:
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created 0600 before anything is written: the token is never readable by others.
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle, indent=2)
    target.chmod(0o600)
    return target


@dataclass
class Settings:
    url: str
    token: str
    environment: str


def load() -> Settings:
    data = read_file()
    return Settings(
        url=(os.environ.get("M3O_URL") or data.get("url") or DEFAULT_URL).rstrip("/"),
        token=os.environ.get("M3O_TOKEN") or data.get("token") or "",
        environment=os.environ.get("M3O_ENV") or data.get("environment") or DEFAULT_ENVIRONMENT,
    )


def update(**values: str | None) -> Path:
    data = read_file()
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return write_file(data)
