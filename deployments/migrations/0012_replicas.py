from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("deployments", "0011_repository_health_check")]

    operations = [
        # The web instances that serve now were in the ingress already; new ones wait for health.
        migrations.AddField(model_name="instance", name="routed", field=models.BooleanField(default=True)),
        migrations.AlterField(model_name="instance", name="routed", field=models.BooleanField(default=False)),
        migrations.AddField(
            model_name="instance", name="health_failures", field=models.PositiveSmallIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="instance", name="health_checked_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="instance",
            name="health_restarted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="instance", name="unhealthy_since", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AlterField(
            model_name="instance",
            name="state",
            field=models.CharField(
                choices=[
                    ("starting", "Starting"),
                    ("running", "Running"),
                    ("restarting", "Restarting"),
                    ("exited", "Exited"),
                    ("gone", "Gone"),
                    ("draining", "Draining"),
                ],
                default="starting",
                max_length=20,
            ),
        ),
    ]
