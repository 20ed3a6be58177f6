"""GitHub webhook deliveries: signature checks and push payloads, as pure functions.

Nothing here touches the database or trusts a payload: the view verifies the
signature with a service's secret before anything is acted on.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qs

SIGNATURE_PREFIX = "sha256="
_ZERO_SHA = "0" * 40


class InvalidPayload(ValueError):
    """The body is not a JSON object (or a form with one in `payload`)."""


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for this body."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the HMAC-SHA256 of the raw body with the secret.

    Only `sha256=` is accepted: the older SHA-1 `X-Hub-Signature` is not enough.
    """
    if not secret or not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def parse_body(body: bytes, content_type: str) -> dict:
    """The payload of a delivery sent as `application/json` or as a form."""
    try:
        if content_type == "application/x-www-form-urlencoded":
            (text,) = parse_qs(body.decode(), strict_parsing=True)["payload"]
        else:
            text = body.decode()
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError, KeyError):
        raise InvalidPayload("The body is not a JSON payload.") from None
    if not isinstance(payload, dict):
        raise InvalidPayload("The payload is not a JSON object.")
    return payload


@dataclass(frozen=True)
class Repository:
    full_name: str
    urls: tuple[str, ...]


def repository_of(payload: dict) -> Repository | None:
    """The repository a payload names, with the URLs a service may have been given."""
    repo = payload.get("repository")
    if not isinstance(repo, dict):
        return None
    full_name = _text(repo.get("full_name"))
    urls = [_text(repo.get("clone_url")), _text(repo.get("html_url"))]
    html_url = urls[1].rstrip("/")
    if html_url:
        urls += [html_url, html_url + ".git", html_url + "/"]
    urls = tuple(dict.fromkeys(url for url in urls if url))
    if not full_name and not urls:
        return None
    return Repository(full_name=full_name, urls=urls)


@dataclass(frozen=True)
class Push:
    ref: str
    after: str
    deleted: bool

    @property
    def branch(self) -> str | None:
        """The branch pushed to, or None for a tag or any other ref."""
        prefix = "refs/heads/"
        return self.ref[len(prefix) :] if self.ref.startswith(prefix) else None

    @property
    def tag(self) -> str | None:
        prefix = "refs/tags/"
        return self.ref[len(prefix) :] if self.ref.startswith(prefix) else None


def push_of(payload: dict) -> Push:
    after = _text(payload.get("after"))
    deleted = payload.get("deleted") is True or after == _ZERO_SHA
    return Push(ref=_text(payload.get("ref")), after=after, deleted=deleted)


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def text_of(value) -> str:
    """A string field of a payload, stripped; anything else as ""."""
    return _text(value)
