"""Create a first superuser on a fresh installation, so `make run` can be logged into."""

import secrets

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the user 'admin' with a random password when there are no users yet."

    def handle(self, *args, **options):
        users = get_user_model().objects
        password_file = settings.VAR_DIR / "admin-password"
        if users.exists():
            if password_file.exists():
                self.stdout.write(f"Log in as admin@localhost; the password is in {password_file}")
            return
        password = secrets.token_urlsafe(12)
        user = users.create_superuser("admin", "admin@localhost", password)
        # Sign-in is by verified email address; this one has no mailbox to verify.
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.touch(mode=0o600)
        password_file.write_text(password + "\n")
        self.stdout.write(
            f"Created the user admin@localhost with the password {password} (kept in {password_file})"
        )
