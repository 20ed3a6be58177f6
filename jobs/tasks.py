from celery import shared_task

from jobs import actions, runner


@shared_task(ignore_result=True)
def run_job(run_id: int) -> None:
    runner.execute(run_id)


@shared_task(ignore_result=True)
def start_due_cron_jobs() -> None:
    actions.start_due_cron_jobs()
