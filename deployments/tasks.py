from celery import shared_task

from deployments import actions, controls, health_monitor, pipeline, reconcile, replicas, scaling
from deployments.runtime import get_runtime


@shared_task(acks_late=True, ignore_result=True)
def deploy(deployment_id: int) -> None:
    # Sent again as a new task rather than with self.retry(): the retry budget is the
    # pipeline's (DEPLOY_MAX_RETRIES, counted on the row), never Celery's own default.
    retry_in = pipeline.run(deployment_id)
    if retry_in is not None:
        actions.enqueue(deployment_id, countdown=retry_in)


@shared_task(ignore_result=True)
def retire(deployment_id: int | None, service_id: int) -> None:
    pipeline.retire(deployment_id, service_id)


@shared_task(ignore_result=True)
def reap_stale_deployments() -> None:
    actions.reap_stale_deployments()


@shared_task(ignore_result=True)
def reconcile_all() -> None:
    reconcile.reconcile()


@shared_task(ignore_result=True)
def converge(service_id: int | None = None, environment_id: int | None = None) -> None:
    reconcile.converge(service_id=service_id, environment_id=environment_id)


@shared_task(ignore_result=True)
def restart(service_id: int, instance_id: str) -> None:
    controls.restart_instance(service_id, instance_id)


@shared_task(ignore_result=True)
def monitor_health() -> None:
    health_monitor.monitor()


@shared_task(ignore_result=True)
def restart_unhealthy(replica_id: int, container_id: str) -> None:
    health_monitor.restart(replica_id, container_id)


@shared_task(ignore_result=True)
def scale(service_id: int) -> None:
    scaling.apply(service_id)


@shared_task(ignore_result=True)
def stop_drained(instance_ids: list[int]) -> None:
    replicas.stop_drained(instance_ids, get_runtime())
