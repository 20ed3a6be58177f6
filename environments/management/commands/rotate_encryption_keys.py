from django.core.management.base import BaseCommand
from django.db import transaction

from deployments.models import Variable
from portal import crypto


class Command(BaseCommand):
    help = "Re-encrypt every stored variable with the first key of ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        count = 0
        with transaction.atomic():
            for variable in Variable.objects.select_for_update().iterator():
                variable.encrypted_value = crypto.rotate(variable.encrypted_value)
                variable.save(update_fields=["encrypted_value"])
                count += 1
        self.stdout.write(f"Re-encrypted {count} variables.")
