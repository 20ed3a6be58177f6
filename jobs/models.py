"""Cron jobs of a service, and the runs of commands in one-off containers (cron's or a person's)."""

from django.conf import settings
from django.db import models

from deployments.models import Deployment, Service


class CronJob(models.Model):
    class Policy(models.TextChoices):
        FORBID = "forbid", "Forbid: skip a run while the last one still runs"
        REPLACE = "replace", "Replace: stop the last run and start the new one"
        ALLOW = "allow", "Allow: runs may overlap"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="cron_jobs")
    schedule = models.CharField(max_length=100, help_text="Five cron fields, in UTC: */5 * * * *")
    command = models.TextField()
    policy = models.CharField(max_length=10, choices=Policy.choices, default=Policy.FORBID)
    timeout = models.PositiveIntegerField(help_text="Seconds a run may take before it is stopped")
    enabled = models.BooleanField(default=True)
    # The next time it is due; beat's claim moves it forward with a conditional UPDATE.
    next_run_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.schedule} {self.command}"


class JobRun(models.Model):
    """One command in one one-off container: a cron job's run (or its skip), or `m3o run-command`."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"  # exit code 0
        FAILED = "failed"  # another exit code, or it could not start (detail says why)
        TIMED_OUT = "timed_out"
        STOPPED = "stopped"  # a replacing run, or the service went away
        SKIPPED = "skipped"  # forbid: the last run was still going

    ACTIVE = (State.QUEUED, State.RUNNING)

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="job_runs")
    cron_job = models.ForeignKey(
        CronJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    command = models.TextField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED, db_index=True)
    detail = models.CharField(max_length=300, blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    timeout = models.PositiveIntegerField()
    stop_requested = models.BooleanField(default=False)
    due_at = models.DateTimeField(null=True, blank=True)  # the schedule's time this cron run is for
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    log = models.TextField(blank=True, default="")  # the last lines, kept after the stream expires

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"run {self.pk}: {self.command[:40]}"

    @property
    def settled(self) -> bool:
        return self.state not in self.ACTIVE

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
