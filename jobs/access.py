"""Cron jobs and runs as the person asking may see or touch them: through their service."""

from django.db.models import QuerySet

from deployments.access import services_for
from environments.access import VIEW
from jobs.models import CronJob, JobRun


def cron_jobs_for(user, need: str = VIEW) -> QuerySet[CronJob]:
    return CronJob.objects.filter(service__in=services_for(user, need)).select_related("service__environment")


def runs_for(user, need: str = VIEW) -> QuerySet[JobRun]:
    return JobRun.objects.filter(service__in=services_for(user, need)).select_related("service", "cron_job")
