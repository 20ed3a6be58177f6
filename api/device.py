"""Browser sign-in for the `m3o` command, in the shape of OAuth 2.0's device grant (RFC 8628).

The CLI asks for a pair of codes, shows the person the short one and a portal URL,
and polls with the long one. The person, signed in on the portal, approves the
device on a page that names it. The next poll after that gets a personal access
token, exactly once.
"""

import secrets
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from api import tokens
from api.models import DeviceLogin

LIFETIME = timedelta(minutes=10)
INTERVAL = 5  # seconds between polls (RFC 8628 3.2's default)
# No vowels or look-alikes: a code never spells a word and reads unambiguously aloud.
_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
# Every pair made is a row; bound how fast one address can make them.
_STARTS_PER_MINUTE = 10
# Guesses of user codes by one signed-in person.
_GUESSES_PER_HOUR = 20


class DeviceError(Exception):
    """`code` is the RFC 8628 error name the CLI acts on; the text is for a person."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code


def _within(key: str, limit: int, seconds: int) -> bool:
    cache.add(key, 0, timeout=seconds)
    try:
        return cache.incr(key) <= limit
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=seconds)
        return True


def normalise(user_code: str) -> str:
    """`bcdf-ghjk`, `BCDFGHJK` and ` bcdf ghjk ` are one code: `BCDF-GHJK`."""
    letters = "".join(ch for ch in user_code.upper() if ch.isalpha())
    return f"{letters[:4]}-{letters[4:8]}" if len(letters) == 8 else ""


def start(client_name: str, address: str) -> tuple[DeviceLogin, str]:
    """A new pending login and its device code (kept by the CLI, only hashed here)."""
    if not _within(f"device-start:{address}", _STARTS_PER_MINUTE, 60):
        raise DeviceError("slow_down", "Too many sign-ins started from this address; wait a minute.")
    # Printable text only: the page shows it, and Postgres refuses NUL in text.
    name = " ".join("".join(ch for ch in client_name if ch.isprintable()).split())[:100] or "m3o command"
    DeviceLogin.objects.filter(expires_at__lt=timezone.now() - LIFETIME).delete()
    device_code = secrets.token_urlsafe(32)
    while True:
        user_code = normalise("".join(secrets.choice(_ALPHABET) for _ in range(8)))
        if not DeviceLogin.objects.filter(user_code=user_code).exists():
            break
    login = DeviceLogin.objects.create(
        device_digest=tokens.digest(device_code),
        user_code=user_code,
        client_name=name,
        expires_at=timezone.now() + LIFETIME,
    )
    return login, device_code


def pending(user, user_code: str) -> DeviceLogin:
    """The login a person typed the code of, if it still waits for an answer."""
    if not _within(f"device-guess:{user.pk}", _GUESSES_PER_HOUR, 3600):
        raise DeviceError("slow_down", "Too many codes tried; wait an hour or start again from the CLI.")
    code = normalise(user_code)
    login = DeviceLogin.objects.filter(user_code=code).first() if code else None
    if login is None or login.expired:
        raise DeviceError(
            "invalid_grant", "That code is not valid or has expired. Start again with `m3o login`."
        )
    if login.approved_at or login.denied_at:
        raise DeviceError("invalid_grant", "That code was already used.")
    return login


def approve(user, user_code: str) -> DeviceLogin:
    login = pending(user, user_code)
    # Only one answer counts: the update succeeds for the first approval or denial.
    answered = DeviceLogin.objects.filter(
        pk=login.pk, approved_at__isnull=True, denied_at__isnull=True, expires_at__gt=timezone.now()
    ).update(approved_by=user, approved_at=timezone.now())
    if not answered:
        raise DeviceError("invalid_grant", "That code was already used.")
    login.refresh_from_db()
    return login


def deny(user, user_code: str) -> DeviceLogin:
    login = pending(user, user_code)
    DeviceLogin.objects.filter(pk=login.pk, approved_at__isnull=True).update(denied_at=timezone.now())
    login.refresh_from_db()
    return login


def collect(device_code: str) -> str:
    """The token for an approved login, given once; else the RFC 8628 error to poll on."""
    login = DeviceLogin.objects.filter(device_digest=tokens.digest(device_code or "")).first()
    if login is None:
        raise DeviceError("invalid_grant", "This sign-in is unknown; start again with `m3o login`.")
    now = timezone.now()
    if login.collected_at:
        raise DeviceError("invalid_grant", "This sign-in was already used; start again with `m3o login`.")
    if login.denied_at:
        raise DeviceError("access_denied", "The sign-in was denied in the browser.")
    if login.approved_at is None:
        if login.expired:
            raise DeviceError(
                "expired_token", "The code expired before it was approved; run `m3o login` again."
            )
        too_soon = login.last_polled_at and now - login.last_polled_at < timedelta(seconds=INTERVAL - 1)
        DeviceLogin.objects.filter(pk=login.pk).update(last_polled_at=now)
        if too_soon:
            raise DeviceError("slow_down", f"Poll at most every {INTERVAL} seconds.")
        raise DeviceError("authorization_pending", "Waiting for the browser.")
    if now > login.expires_at + timedelta(seconds=2 * INTERVAL):
        raise DeviceError("expired_token", "The sign-in expired before it was collected; log in again.")
    with transaction.atomic():
        won = DeviceLogin.objects.filter(pk=login.pk, collected_at__isnull=True).update(collected_at=now)
        if not won:
            raise DeviceError("invalid_grant", "This sign-in was already used; start again with `m3o login`.")
        token, raw = tokens.create_token(login.approved_by, login.client_name, expires_in_days=None)
        DeviceLogin.objects.filter(pk=login.pk).update(token=token)
    return raw
