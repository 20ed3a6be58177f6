"""manage.py deploy REPO_URL --name NAME [--env E] [--branch B] [--path P] [--wait] [--replace] ..."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from deployments import actions, logs
from deployments.models import Deployment
from ingress.names import service_url


class Command(BaseCommand):
    help = "Deploy a Git repository as a service, through the same action as the dashboard."

    def add_arguments(self, parser):
        parser.add_argument("repository_url")
        parser.add_argument("--name", required=True, help="the service's name")
        parser.add_argument("--env", default="production", help="environment (created when missing)")
        parser.add_argument("--branch", default="", help="default: the repository's default branch")
        parser.add_argument("--path", default="", help="subdirectory of the repository")
        parser.add_argument("--port", type=int, default=None, help="the port the app listens on")
        parser.add_argument("--start", default=None, help="start command (instead of Procfile/detection)")
        parser.add_argument("--build", default=None, help="build command, run after the dependencies")
        parser.add_argument("--release", default=None, help="pre-deploy command, run before the switch")
        parser.add_argument("--user", default=None, help="user name or email; default: the only superuser")
        parser.add_argument("--wait", action="store_true", help="print the log and wait for the result")
        parser.add_argument(
            "--replace", action="store_true", help="switch a service of this name that deploys another repo"
        )

    def handle(self, *args, **options):
        user = self._user(options["user"])
        try:
            deployment = actions.deploy_repository(
                user,
                name=options["name"],
                repository_url=options["repository_url"],
                branch=options["branch"],
                subdirectory=options["path"],
                environment=options["env"],
                port=options["port"],
                start_command=options["start"],
                build_command=options["build"],
                predeploy_command=options["release"],
                replace=options["replace"],
            )
        except actions.NeedsConfirmation as exc:
            raise CommandError(f"{exc} Run it again with --replace to replace it.") from None
        except actions.ActionError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Deployment #{deployment.pk} of {options['name']} queued.")
        if not options["wait"]:
            return
        final = None
        for item in logs.follow(deployment.pk):
            if isinstance(item, Deployment):
                final = item
            else:
                self.stdout.write(item.text)
        if final.state != Deployment.State.RUNNING:
            raise CommandError(f"Deployment #{final.pk} {final.state}: {final.failure_reason}")
        self.stdout.write(service_url(final.service) or final.url)

    def _user(self, name):
        users = get_user_model().objects
        if name:
            try:
                return users.get(Q(username=name) | Q(email__iexact=name))
            except users.model.DoesNotExist:
                raise CommandError(f"No user {name!r}.") from None
            except users.model.MultipleObjectsReturned:
                raise CommandError(f"More than one user matches {name!r}; give the user name.") from None
        supers = list(users.filter(is_superuser=True)[:2])
        if len(supers) != 1:
            raise CommandError("Name the user with --user (there is not exactly one superuser).")
        return supers[0]
