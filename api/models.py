from django.conf import settings
from django.db import models
from django.utils import timezone


class Token(models.Model):
    """A personal access token for the API and the CLI.

    Only a SHA-256 digest of the token is kept: the token itself is shown once,
    when it is made. The prefix is its first characters, so a person can tell
    their tokens apart in a list without the list revealing any of them.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class DeviceLogin(models.Model):
    """A sign-in of the `m3o` command through the browser (RFC 8628's device grant).

    The CLI holds the device code (only its digest is kept here) and polls; the person
    types or follows the short user code on the portal and approves. The token is made
    when the CLI collects it, once: `collected_at` is set in the same update that wins.
    """

    device_digest = models.CharField(max_length=64, unique=True)
    user_code = models.CharField(max_length=9, unique=True)
    client_name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_polled_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    denied_at = models.DateTimeField(null=True, blank=True)
    collected_at = models.DateTimeField(null=True, blank=True)
    token = models.ForeignKey(Token, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"{self.client_name} ({self.user_code})"

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()
