from django.db import migrations, models

SEEDED = {"open-source": 2, "hobby": 5, "pro": 10}


def seed_limits(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for slug, limit in SEEDED.items():
        Plan.objects.filter(slug=slug).update(max_replicas=limit)


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_plan_max_cron_jobs")]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="max_replicas",
            field=models.PositiveIntegerField(default=2, help_text="Replicas per process type of a service"),
        ),
        migrations.RunPython(seed_limits, migrations.RunPython.noop),
    ]
