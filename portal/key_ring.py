"""Before a process serves anything: can ENCRYPTION_KEYS read what is stored?

Without ENCRYPTION_KEYS the key is derived from SECRET_KEY, so rotating
SECRET_KEY alone makes every stored variable, GitHub token and webhook secret
unreadable. The web process and the worker ask here at start and refuse to run
with a message naming the cause, instead of failing deploys and sign-ins one by
one later.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from portal import crypto


def _samples() -> list[tuple[str, str]]:
    from allauth.socialaccount.models import SocialToken

    from accounts.sealed import PREFIX
    from deployments.models import Service, Variable

    found = []
    variable = Variable.objects.order_by("-id").values_list("encrypted_value", flat=True).first()
    if variable:
        found.append(("a variable", variable))
    sealed_tokens = SocialToken.objects.filter(token__startswith=PREFIX).order_by("-id")
    token = sealed_tokens.values_list("token", flat=True).first()
    if token:
        found.append(("a GitHub token", token.removeprefix(PREFIX)))
    hook = Service.objects.order_by("-id").values_list("sealed_webhook_secret", flat=True).first()
    if hook:
        found.append(("a webhook secret", hook))
    return found


def check() -> None:
    """ImproperlyConfigured when the newest stored secret of each kind cannot be decrypted."""
    try:
        samples = _samples()
    except DatabaseError:
        return  # no tables yet (before the first migrate): nothing stored to read
    for what, value in samples:
        try:
            crypto.decrypt(value)
        except ImproperlyConfigured:
            raise ImproperlyConfigured(
                f"ENCRYPTION_KEYS cannot decrypt {what} stored in the database, so this process "
                "will not start. Was SECRET_KEY changed while ENCRYPTION_KEYS is unset, or a key "
                "removed from ENCRYPTION_KEYS? Put the old key back (at the end of "
                "ENCRYPTION_KEYS, or the old SECRET_KEY), start, and run "
                "`manage.py rotate_encryption_keys` before dropping it."
            ) from None
