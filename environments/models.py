from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

slug_validator = RegexValidator(
    r"^[a-z][a-z0-9-]{0,29}$",
    "Use 1 to 30 lowercase letters, digits and dashes, starting with a letter.",
)


class Environment(models.Model):
    class Kind(models.TextChoices):
        PRODUCTION = "production"
        STAGING = "staging"
        TESTING = "testing"
        PERSONAL = "personal"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=30, validators=[slug_validator])
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PRODUCTION)
    description = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # A personal environment may stop and go away by itself at this time.
    expires_at = models.DateTimeField(null=True, blank=True)
    # Deleted environments keep their history, readable to the owner.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"],
                condition=Q(deleted_at__isnull=True),
                name="environment_name_per_owner",
            )
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Membership(models.Model):
    """Someone other than the owner who works in an environment."""

    class Role(models.TextChoices):
        MEMBER = "member", "Member (deploy, see logs)"
        ADMIN = "admin", "Admin (also variables, members, delete)"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["environment", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.environment} ({self.role})"


class Event(models.Model):
    """What was done in an environment, by whom: the audit trail the actions write."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="events")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=50)
    detail = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.detail}"
