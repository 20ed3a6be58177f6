"""Seed the Open Source, Hobby and Pro plans (billing/seed.py)."""

from django.db import migrations

from billing import seed


def forward(apps, schema_editor):
    seed.ensure(apps.get_model("billing", "Plan"))


def backward(apps, schema_editor):
    apps.get_model("billing", "Plan").objects.filter(slug__in=[p["slug"] for p in seed.PLANS]).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
