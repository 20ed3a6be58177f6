"""Personal access tokens: made, looked up and revoked only here."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from api.models import Token
from environments.audit import record

PREFIX = "m3o_"
# Writing last_used_at on every request would be a write per API call.
_TOUCH_EVERY = timedelta(minutes=1)


class TokenError(Exception):
    pass


def digest(raw: str) -> str:
    # A plain hash suffices: the token has 256 random bits, nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(user, name: str, expires_in_days: int | None = None) -> tuple[Token, str]:
    """Return the token's row and the token itself, which is not stored anywhere."""
    name = name.strip()[:100] or "token"
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise TokenError("A token expires after 1 to 3650 days, or never.")
    raw = PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    with transaction.atomic():
        token = Token.objects.create(
            user=user, name=name, prefix=raw[:12], digest=digest(raw), expires_at=expires_at
        )
        record(None, user, "token", f"created {name} ({token.prefix}...)")
    return token, raw


def revoke_token(user, token_id: int) -> Token:
    token = Token.objects.filter(user=user, pk=token_id, revoked_at__isnull=True).first()
    if token is None:
        raise TokenError("That token does not exist or was already revoked.")
    token.revoked_at = timezone.now()
    with transaction.atomic():
        token.save(update_fields=["revoked_at"])
        record(None, user, "token", f"revoked {token.name} ({token.prefix}...)")
    return token


def user_for(raw: str):
    """The active user the token belongs to, or None for any token that is not usable now."""
    if not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    now = timezone.now()
    token = (
        Token.objects.select_related("user")
        .filter(digest=digest(raw), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or token.last_used_at < now - _TOUCH_EVERY:
        Token.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def usable_tokens(user):
    return Token.objects.filter(user=user, revoked_at__isnull=True)
