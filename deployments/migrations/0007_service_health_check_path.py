from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0006_service_branch_and_commands"),
    ]

    operations = [
        migrations.AddField(
            model_name="service",
            name="health_check_path",
            field=models.CharField(default="/", max_length=200),
        ),
    ]
