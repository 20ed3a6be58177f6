"""GitHub tokens and two-factor secrets at rest: encrypted with the variables' key
ring (portal/crypto.py).

allauth saves the token it gets at sign-in (SOCIALACCOUNT_STORE_TOKENS) in its own
model, which has no notion of encryption; a pre_save signal seals the values on
their way into the database and a post_save one puts the clear values back on
the object in memory, so allauth's code keeps working with what it saved.
Read a stored token only through `unseal`. allauth's MFA asks its adapter to
encrypt TOTP secrets and recovery-code seeds, and by default stores them as
they are; MFAAdapter seals them the same way.
"""

from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.models import SocialToken
from django.db.models.signals import post_save, pre_save

from portal import crypto

PREFIX = "sealed:"  # tells a sealed value from one stored before this existed
FIELDS = ("token", "token_secret")


def seal(value: str) -> str:
    if not value or value.startswith(PREFIX):
        return value
    return PREFIX + crypto.encrypt(value)


def unseal(value: str) -> str:
    return crypto.decrypt(value.removeprefix(PREFIX)) if value.startswith(PREFIX) else value


def rotate(value: str) -> str:
    return PREFIX + crypto.rotate(value.removeprefix(PREFIX)) if value.startswith(PREFIX) else seal(value)


def _seal_before_saving(sender, instance: SocialToken, **kwargs) -> None:
    instance._clear_values = {field: getattr(instance, field) for field in FIELDS}
    for field in FIELDS:
        setattr(instance, field, seal(getattr(instance, field)))


def _clear_after_saving(sender, instance: SocialToken, **kwargs) -> None:
    for field, value in getattr(instance, "_clear_values", {}).items():
        setattr(instance, field, unseal(value))


def connect() -> None:
    pre_save.connect(_seal_before_saving, sender=SocialToken, dispatch_uid="seal-social-token")
    post_save.connect(_clear_after_saving, sender=SocialToken, dispatch_uid="clear-social-token")


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return seal(text)

    def decrypt(self, encrypted_text: str) -> str:
        return unseal(encrypted_text)
