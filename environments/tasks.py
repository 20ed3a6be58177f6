from celery import shared_task

from environments import actions


@shared_task(ignore_result=True)
def delete_expired_environments() -> None:
    actions.delete_expired_environments()
