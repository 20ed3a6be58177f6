from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="environment_name_per_owner")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
