"""`manage.py doctor`: what is wrong with this installation, in plain words, and how to fix it."""

from django.core.management.base import BaseCommand, CommandError

from portal import health


class Command(BaseCommand):
    help = "Check the database, Redis, the workers and their engine, the proxies and free disk."

    def handle(self, *args, **options):
        checks = health.run_checks()
        for check in checks:
            if check.ok:
                self.stdout.write(f"ok       {check.name}: {check.detail}")
            else:
                self.stdout.write(self.style.ERROR(f"PROBLEM  {check.name}: {check.detail}"))
                if check.fix:
                    self.stdout.write(f"         to fix it: {check.fix}")
        failed = [check.name for check in checks if not check.ok]
        if failed:
            raise CommandError(f"{len(failed)} problem(s): {', '.join(failed)}")
        self.stdout.write(self.style.SUCCESS("Everything answers."))
