"""Cron jobs and one-off commands: the one way the dashboard, the API and the CLI change them.

Callers check permissions first (jobs/access.py). Each change writes its audit record in
its transaction and sends its task after the commit; only a worker starts a container.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.quotas import QuotaExceeded, check_cron_jobs
from deployments.actions import ActionError
from deployments.models import Deployment, Service
from environments.actions import record
from jobs import run_logs, schedules
from jobs.models import CronJob, JobRun

log = logging.getLogger(__name__)
State = JobRun.State
MAX_COMMAND = 4000
_LOST_AFTER = timedelta(seconds=60)  # past its time limit, a run whose worker died is given up


def _command(text) -> str:
    text = str(text or "").strip()
    if not text:
        raise ActionError("Give a command to run.")
    if "\x00" in text:
        raise ActionError("A command cannot hold a NUL character.")
    if len(text) > MAX_COMMAND:
        raise ActionError(f"A command has at most {MAX_COMMAND} characters; this one has {len(text)}.")
    return text


def _running(service: Service) -> bool:
    live = service.live_deployment
    return live is not None and live.state == Deployment.State.RUNNING and bool(live.image)


def _send(run_id: int) -> None:
    from jobs.tasks import run_job

    def send() -> None:
        try:
            run_logs.forget(run_id)
            run_job.apply_async(args=[run_id], queue=settings.DEPLOY_QUEUE)
        except Exception:  # kombu and redis raise many kinds; the run is failed as lost later
            log.exception("run %s not sent to the queue", run_id)

    transaction.on_commit(send)


@transaction.atomic
def run_command(service: Service, command: str, user) -> JobRun:
    """`m3o run-command`: the command in a one-off container of the live image."""
    command = _command(command)
    if not _running(service):
        raise ActionError(f"{service.name} is not running; deploy it first.")
    run = JobRun.objects.create(
        service=service, command=command, requested_by=user, timeout=settings.RUN_COMMAND_TIMEOUT
    )
    record(service.environment, user, "run-command", f"{service.name}: {command}")
    _send(run.pk)
    return run


@transaction.atomic
def add_cron_job(
    service: Service, user, *, schedule: str, command: str, policy: str = CronJob.Policy.FORBID,
    timeout: int | None = None, now=None,
) -> CronJob:  # fmt: skip
    try:
        parsed = schedules.parse(schedule)
    except schedules.InvalidSchedule as exc:
        raise ActionError(str(exc)) from None
    command = _command(command)
    if policy not in CronJob.Policy.values:
        raise ActionError(
            f"The policy is one of {', '.join(CronJob.Policy.values)}, not '{str(policy)[:20]}'."
        )
    timeout = settings.CRON_DEFAULT_TIMEOUT if timeout is None else timeout
    if not 1 <= timeout <= settings.CRON_MAX_TIMEOUT:
        raise ActionError(f"The time limit is between 1 and {settings.CRON_MAX_TIMEOUT} seconds.")
    # One owner's additions one at a time, so two at once cannot both pass the plan's limit.
    owner = service.environment.owner
    type(owner).objects.select_for_update().filter(pk=owner.pk).first()
    try:
        check_cron_jobs(service, CronJob.objects.filter(service__environment__owner=owner).count())
    except QuotaExceeded as exc:
        raise ActionError(str(exc)) from None
    schedule = " ".join(schedule.split())
    job = CronJob.objects.create(
        service=service, schedule=schedule, command=command, policy=policy, timeout=timeout, created_by=user,
        next_run_at=schedules.next_after(parsed, now or timezone.now()),
    )  # fmt: skip
    record(
        service.environment, user, "cron-add", f"{service.name}: {schedule} {command}",
        changes={"schedule": [None, schedule], "policy": [None, policy], "timeout": [None, timeout]},
    )  # fmt: skip
    return job


@transaction.atomic
def remove_cron_job(job: CronJob, user) -> None:
    """Its history stays with the service; a run still going is stopped."""
    job.runs.filter(state=State.QUEUED).update(state=State.STOPPED, detail="Its cron job was removed.")
    job.runs.filter(state=State.RUNNING).update(stop_requested=True, detail="Its cron job was removed.")
    record(job.service.environment, user, "cron-remove", f"{job.service.name}: {job.schedule} {job.command}")
    job.delete()


@transaction.atomic
def set_cron_job_enabled(job: CronJob, enabled: bool, user, now=None) -> CronJob:
    """Pause or resume a job. Resumed, it next runs at its next time from now: the times it
    was paused are not made up for."""
    if job.enabled == enabled:
        return job
    job.enabled = enabled
    if enabled:
        job.next_run_at = schedules.next_after(schedules.parse(job.schedule), now or timezone.now())
    job.save(update_fields=["enabled", "next_run_at"])
    record(
        job.service.environment, user, "cron-resume" if enabled else "cron-pause",
        f"{job.service.name}: {job.schedule} {job.command}", changes={"enabled": [not enabled, enabled]},
    )  # fmt: skip
    return job


def start_due_cron_jobs(now=None) -> list[JobRun]:
    """Beat's pass: start (or skip) each due job's run, once per due time, however many passes."""
    now = now or timezone.now()
    _give_up_lost_runs(now)
    started = []
    due = CronJob.objects.filter(enabled=True, next_run_at__lte=now, service__environment__deleted_at=None)
    for job in due.select_related("service__environment", "service__live_deployment"):
        # After downtime the next time is counted from now: runs missed meanwhile become this one.
        following = schedules.next_after(schedules.parse(job.schedule), now)
        with transaction.atomic():
            if not CronJob.objects.filter(pk=job.pk, next_run_at=job.next_run_at).update(
                next_run_at=following
            ):
                continue  # another beat or worker claimed this time
            if (run := _start_run(job, due_at=job.next_run_at)) is not None:
                started.append(run)
    return started


def _start_run(job: CronJob, due_at) -> JobRun | None:
    fields = {
        "service": job.service,
        "cron_job": job,
        "command": job.command,
        "timeout": job.timeout,
        "due_at": due_at,
    }
    if not _running(job.service):
        # Said once, not every minute for as long as the service stays stopped.
        detail = f"Skipped: {job.service.name} is not running."
        if job.runs.order_by("-pk").values_list("detail", flat=True).first() == detail:
            return None
        return JobRun.objects.create(**fields, state=State.SKIPPED, detail=detail)
    active = job.runs.filter(state__in=JobRun.ACTIVE)
    if job.policy == CronJob.Policy.FORBID and (going := active.order_by("pk").first()):
        return JobRun.objects.create(
            **fields, state=State.SKIPPED, detail=f"Skipped: run #{going.pk} was still going (policy forbid)."
        )
    if job.policy == CronJob.Policy.REPLACE:
        active.filter(state=State.QUEUED).update(state=State.STOPPED, detail="Replaced by a newer run.")
        active.update(stop_requested=True, detail="Replaced by a newer run.")
    run = JobRun.objects.create(**fields)
    _send(run.pk)
    return run


def _give_up_lost_runs(now) -> None:
    """A run whose worker died stays `running` on its row: past its time limit it is failed,
    so a forbid job is not blocked by it for ever. One never taken from the queue likewise."""
    for run in JobRun.objects.filter(state__in=JobRun.ACTIVE):
        since = run.started_at or run.created_at
        if since + timedelta(seconds=run.timeout) + _LOST_AFTER < now:
            JobRun.objects.filter(pk=run.pk, state=run.state).update(
                state=State.FAILED, finished_at=now, detail="Lost: the worker running it stopped."
            )
