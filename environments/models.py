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
        VIEWER = "viewer", "Viewer (see services and logs only)"
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


class EventQuerySet(models.QuerySet):
    """The audit log is append-only: rows are added, never changed or removed one by one."""

    def update(self, **kwargs):
        raise TypeError("The audit log is append-only: events are never changed.")

    def delete(self):
        raise TypeError("The audit log is append-only: events are never deleted.")


class Event(models.Model):
    """One change, by whom, from where: the audit trail every action writes
    (environments/audit.py), in the same transaction as the change.

    `environment` is empty for a change of a person's account (tokens, plan), which
    `account` names. `changes` holds before/after of settings; a secret's value never.

    The database refuses to change or delete a record (triggers made by migration 0006),
    so a record outlives what it is about: its references are plain ids without a
    foreign-key constraint (deleting a person, with their environments, leaves them
    pointing at nothing), and who and which environment are copied into it as names.
    A deleted person's records stay, their email and address in them: they are the account
    of who changed what, in environments others may share. An operator who must erase them
    does it by hand, in one transaction with the table's triggers disabled (`ALTER TABLE
    environments_event DISABLE TRIGGER USER`, on SQLite dropping the triggers and making them again).
    """

    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="events",
    )  # fmt: skip
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+",
    )  # fmt: skip
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+",
    )  # fmt: skip
    user_email = models.CharField(max_length=254, blank=True, default="")  # empty: the platform
    environment_name = models.CharField(max_length=30, blank=True, default="")
    action = models.CharField(max_length=50)
    detail = models.CharField(max_length=300, blank=True, default="")
    address = models.GenericIPAddressField(null=True, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.detail}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("The audit log is append-only: events are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit log is append-only: events are never deleted.")
