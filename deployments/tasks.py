from celery import shared_task

from deployments import actions, pipeline


@shared_task(bind=True, acks_late=True, ignore_result=True)
def deploy(self, deployment_id: int) -> None:
    retry_in = pipeline.run(deployment_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in, max_retries=None)


@shared_task(ignore_result=True)
def retire(deployment_id: int | None, service_id: int) -> None:
    pipeline.retire(deployment_id, service_id)


@shared_task(ignore_result=True)
def reap_stale_deployments() -> None:
    actions.reap_stale_deployments()
