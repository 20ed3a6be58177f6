"""`manage.py create_token USERNAME_OR_EMAIL`: a personal access token for operators and scripts."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from api.tokens import TokenError, create_token


class Command(BaseCommand):
    help = "Create a personal access token for a user and print it (it is not stored in plain text)."

    def add_arguments(self, parser):
        parser.add_argument("user", help="user name or email address")
        parser.add_argument("--name", default="created with manage.py")
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args, **options):
        who = options["user"]
        users = get_user_model().objects.filter(Q(username=who) | Q(email__iexact=who))
        if users.count() != 1:
            raise CommandError(f"No single user is called {who!r}.")
        try:
            _, raw = create_token(users.get(), options["name"], options["expires_in_days"])
        except TokenError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(raw)
