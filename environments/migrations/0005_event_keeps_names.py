"""Audit records outlive what they are about (issue 16): who and which environment are copied
into each record, and its references lose their foreign-key constraints, so deleting a person
or an environment neither deletes nor changes a record (0006 makes the database refuse both).
The names of the records written before are copied from the rows they point at."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_names(apps, schema_editor):
    Event = apps.get_model("environments", "Event")
    Environment = apps.get_model("environments", "Environment")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Event.objects.filter(user__isnull=False).update(
        user_email=Subquery(User.objects.filter(pk=OuterRef("user_id")).values("email")[:1])
    )
    Event.objects.filter(environment__isnull=False).update(
        environment_name=Subquery(Environment.objects.filter(pk=OuterRef("environment_id")).values("name")[:1])
    )


class Migration(migrations.Migration):

    dependencies = [
        ('environments', '0004_membership_viewer'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='event',
            name='environment_name',
            field=models.CharField(blank=True, default='', max_length=30),
        ),
        migrations.AddField(
            model_name='event',
            name='user_email',
            field=models.CharField(blank=True, default='', max_length=254),
        ),
        migrations.AlterField(
            model_name='event',
            name='account',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='event',
            name='environment',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='events', to='environments.environment'),
        ),
        migrations.AlterField(
            model_name='event',
            name='user',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(copy_names, migrations.RunPython.noop),
    ]
