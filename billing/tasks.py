from celery import shared_task

from billing import actions


@shared_task(ignore_result=True)
def stop_services_after_grace() -> None:
    actions.stop_services_after_grace()
