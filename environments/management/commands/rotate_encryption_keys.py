from allauth.socialaccount.models import SocialToken
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import sealed
from deployments.models import Service, Variable
from portal import crypto


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored variable, GitHub token and webhook secret with the first key of "
        "ENCRYPTION_KEYS."
    )

    def handle(self, *args, **options):
        count = 0
        with transaction.atomic():
            for variable in Variable.objects.select_for_update().iterator():
                variable.encrypted_value = crypto.rotate(variable.encrypted_value)
                variable.save(update_fields=["encrypted_value"])
                count += 1
            tokens = 0
            for token in SocialToken.objects.select_for_update().iterator():
                # A queryset update: the model's save would seal the values a second time.
                SocialToken.objects.filter(pk=token.pk).update(
                    token=sealed.rotate(token.token), token_secret=sealed.rotate(token.token_secret)
                )
                tokens += 1
            hooks = 0
            for service in Service.objects.select_for_update().only("sealed_webhook_secret").iterator():
                rotated = crypto.rotate(service.sealed_webhook_secret)
                Service.objects.filter(pk=service.pk).update(sealed_webhook_secret=rotated)
                hooks += 1
        self.stdout.write(
            f"Re-encrypted {count} variables, {tokens} GitHub tokens and {hooks} webhook secrets."
        )
