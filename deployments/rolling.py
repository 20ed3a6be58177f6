"""A new deployment's web replicas beside the live one's: one at a time, rolled back on a failure.

With one replica on each side the pipeline's switch is all there is (the new instance
health-gated, the routes pointed at it, the old one drained). With more, the new
deployment replaces the live one's replicas one at a time, as Kubernetes' rolling update
does with max surge 1 and max unavailable 0: start new replica k, wait for its health
check, add it to the ingress, take one old replica out (it drains, then stops), and so
on. Should a new replica fail its check (or the deployment be cancelled), the new
replicas leave the ingress, the old ones taken out so far come back (started again if
they had stopped), and the deployment fails saying so.
"""

import logging
import time

from django.conf import settings

from deployments import replicas, scaling
from deployments.errors import Cancelled, PlatformError, UserError
from deployments.models import Deployment, Instance, Service
from portal import locks

log = logging.getLogger(__name__)
State = Deployment.State


def start_replicas(run) -> None:
    """After replica 0 of the new deployment passed its health check: the others, by the rules above."""
    deployment, service = run.deployment, run.service
    scaling.inherit(service, deployment)  # again: a scale may have come during the build
    count = replicas.wanted(deployment.pk)
    # Read now: another deployment may have gone live since this one was claimed.
    live = Service.objects.select_related("live_deployment").get(pk=service.pk).live_deployment
    previous = live if live is not None and live.pk != deployment.pk and live.state == State.RUNNING else None
    old = replicas.web_rows(previous.pk, serving_only=True) if previous else []
    old = [row for row in old if row.routed]
    if count == 1 and len(old) <= 1:
        return  # the plain switch
    deployment.image = run.image or deployment.image or _image_of(deployment)
    if not old:  # nothing serves: all go in at the switch
        for index in range(1, count):
            _check_cancel(run)
            replicas.start_web(run.runtime, service, deployment, index, run.log.write)
        return
    # One change of the service's replicas at a time: a scale asked meanwhile waits for this.
    with locks.held(f"replicas-{service.pk}", timeout=900, wait=60):
        _roll(run, previous, old, count)


def _roll(run, previous: Deployment, old: list[Instance], count: int) -> None:
    deployment, service = run.deployment, run.service
    run.log.write(
        f"==> Rolling update: {count} new web replica{'s' if count > 1 else ''} replace the "
        f"{len(old)} of deployment #{previous.pk}, one at a time"
    )
    # The highest first: replica 1 (its deployment's instance_id) serves to the last step.
    old = sorted(old, key=lambda row: row.index)
    taken: list[Instance] = []
    new = replicas.web_rows(deployment.pk)  # replica 0, started and healthy
    try:
        for index in range(count):
            if index:
                _check_cancel(run)
                new.append(replicas.start_web(run.runtime, service, deployment, index, run.log.write))
            replicas.route([new[-1]])
            going = [old.pop()] if old else []
            if index == count - 1:
                going += old  # fewer new replicas than old ones: the rest go with the last step
                old = []
            replicas.take_out(going)
            replicas.load_routes()
            replicas.stop_after_drain(going)
            taken += going
            said = ", ".join(f"{row.index + 1}" for row in going)
            run.log.write(
                f"==> Web replica {index + 1} of {count} in the ingress"
                + (f"; replica {said} of deployment #{previous.pk} drained and stopped" if going else "")
            )
    except (UserError, PlatformError, Cancelled) as exc:
        _roll_back(run, previous, new, taken)
        if isinstance(exc, replicas.ReplicaFailed):
            _write_output(run, exc.output)
            raise UserError(
                f"{exc} Rolled back: deployment #{previous.pk} serves on with its "
                f"{len(taken) + len(old)} web replica{'s' if len(taken) + len(old) > 1 else ''}."
            ) from None
        raise


def _roll_back(run, previous: Deployment, new: list[Instance], taken: list[Instance]) -> None:
    """The new replicas out of the ingress, the old ones back in: started again if they had stopped."""
    Instance.objects.filter(pk__in=[row.pk for row in new]).update(routed=False)
    again_started = []
    for row in taken:
        current = Instance.objects.filter(pk=row.pk, state=Instance.State.DRAINING).first()
        if current is not None and _running(run, current.container_id):
            # Still draining: back as it was (the stop due after the drain skips it now).
            Instance.objects.filter(pk=row.pk).update(state=Instance.State.RUNNING, routed=True)
            continue
        if current is not None:
            replicas.remove(run.runtime, current)
        try:
            again = replicas.start_web(run.runtime, previous.service, previous, row.index, run.log.write)
        except (UserError, PlatformError) as exc:
            run.log.write(
                f"==> Web replica {row.index + 1} of deployment #{previous.pk} did not start again: {exc}"
            )
            continue
        replicas.route([again])
        if row.index == 0:  # the deployment's own instance is this container now
            Deployment.objects.filter(pk=previous.pk).update(
                instance_id=again.container_id, host_port=again.host_port
            )
        again_started.append(str(row.index + 1))
    try:
        replicas.load_routes()
    except PlatformError as exc:  # the periodic route sync puts it right
        log.error("routes not loaded during the rollback of deployment %s: %s", run.deployment.pk, exc)
    restarted = f" (replica {', '.join(again_started)} started again)" if again_started else ""
    run.log.write(
        f"==> Rolled back: the new replicas are out of the ingress; deployment #{previous.pk} "
        f"serves with its web replicas again{restarted}"
    )
    # The proxy's old workers may still send the new replicas a request for a moment.
    time.sleep(settings.INGRESS_DRAIN_SECONDS)


def _running(run, container_id: str) -> bool:
    try:
        return bool(container_id) and run.runtime.state(container_id).running
    except PlatformError:
        return False


def _check_cancel(run) -> None:
    if run.stop.is_set():
        raise Cancelled()


def _image_of(deployment: Deployment) -> str:
    return Deployment.objects.values_list("image", flat=True).get(pk=deployment.pk)


def _write_output(run, lines: list[str]) -> None:
    if lines:
        run.log.write("--- the last lines the new replica printed ---")
        for line in lines:
            run.log.write(line)
        run.log.write("--- end of its output ---")
