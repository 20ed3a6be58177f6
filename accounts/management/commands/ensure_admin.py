"""Create a first superuser on a fresh installation, so `make run` can be logged into.

The password is never printed (terminals, CI logs and screen shares keep what
was printed): it goes to a file only the operator can read, and the command
says where.
"""

import os
import secrets

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


def write_private(path, text: str) -> None:
    """Write `text` to `path`, readable and writable by this user alone, even if it existed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(text)


class Command(BaseCommand):
    help = "Create the user 'admin' with a random password when there are no users yet."

    def handle(self, *args, **options):
        users = get_user_model().objects
        password_file = settings.VAR_DIR / "admin-password"
        if users.exists():
            if password_file.exists():
                self.stdout.write(f"Sign in as admin@localhost; the password is in {password_file}")
            return
        password = secrets.token_urlsafe(12)
        user = users.create_superuser("admin", "admin@localhost", password)
        # Sign-in is by verified email address; this one has no mailbox to verify.
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        write_private(password_file, password + "\n")
        self.stdout.write(
            f"Created the user admin@localhost; its password is in {password_file} (readable by you "
            "alone). Sign in, then add a second factor on the Two-factor page."
        )
