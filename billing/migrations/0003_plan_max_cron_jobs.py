from django.db import migrations, models

SEEDED = {"open-source": 3, "hobby": 10, "pro": 50}


def seed_limits(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for slug, limit in SEEDED.items():
        Plan.objects.filter(slug=slug).update(max_cron_jobs=limit)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_seed_plans")]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="max_cron_jobs",
            field=models.PositiveIntegerField(default=5, help_text="Cron jobs, all the owner's services"),
        ),
        migrations.RunPython(seed_limits, migrations.RunPython.noop),
    ]
