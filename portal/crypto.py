"""Encryption at rest for variables and secrets (Fernet, with key rotation).

ENCRYPTION_KEYS lists Fernet keys, newest first: the first encrypts, all of
them decrypt, so a new key can be put in front and old values re-encrypted with
`manage.py rotate_encryption_keys` before the old key is dropped.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64-encoded bytes each)"
        ) from None


def _current() -> MultiFernet:
    return _fernet(tuple(settings.ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return _current().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored value cannot be decrypted with ENCRYPTION_KEYS: was a key removed too early?"
        ) from None


def rotate(token: str) -> str:
    """The same value, encrypted with the newest key."""
    return _current().rotate(token.encode()).decode()
