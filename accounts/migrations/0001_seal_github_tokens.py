"""Encrypt the GitHub tokens stored in clear before tokens were sealed (accounts/sealed.py)."""

from django.db import migrations

from portal import crypto

PREFIX = "sealed:"


def seal_stored_tokens(apps, schema_editor):
    SocialToken = apps.get_model("socialaccount", "SocialToken")
    for token in SocialToken.objects.all():
        for field in ("token", "token_secret"):
            value = getattr(token, field)
            if value and not value.startswith(PREFIX):
                setattr(token, field, PREFIX + crypto.encrypt(value))
        token.save(update_fields=["token", "token_secret"])


class Migration(migrations.Migration):
    dependencies = [("socialaccount", "0006_alter_socialaccount_extra_data")]
    operations = [migrations.RunPython(seal_stored_tokens, migrations.RunPython.noop)]
