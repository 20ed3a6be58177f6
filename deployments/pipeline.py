"""A deployment's state machine: queued -> cloning -> building -> starting -> running.

Each state is written before its phase starts, with a conditional UPDATE, so a
cancelled or superseded deployment notices at the next step and stops. A final
state is always written: failed for the user's errors, back to queued (and
sent again by the task) for the platform's until DEPLOY_MAX_RETRIES, then failed.
What a run cannot write itself (its worker killed, the database away) the
reaper writes: a stale heartbeat fails, a queued deployment whose task is lost
is sent again with a backoff and at last failed.
"""

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from accounts import github
from billing.quotas import check_deploy, limits_for
from deployments import (
    base_images,
    build,
    health,
    hints,
    image_policy,
    logs,
    node_versions,
    release,
    replicas,
    repo_config,
    rolling,
    runtime_logs,
    scaling,
    source,
    tenant_disk,
    variables,
)
from deployments.errors import Cancelled, PlatformError, UserError
from deployments.models import Deployment, Service
from deployments.processes import containers, declare, gone, record, start_others, web_command
from deployments.processes import copy as copy_processes
from deployments.runtime import AppExited, Instance, InstanceSpec, Runtime, get_runtime
from ingress import routes as ingress_routes
from ingress.names import service_url

log = logging.getLogger(__name__)
State = Deployment.State


@dataclass
class Run:
    """Everything one run of the pipeline holds; never kept on the task."""

    deployment: Deployment
    service: Service
    log: logs.BuildLog
    runtime: Runtime
    checkout: source.Checkout | None = None
    image: str = ""  # an image this run built, and so removes if it fails
    instance: Instance | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    went_live: bool = False
    retiring: int | None = None  # the deployment this one replaced, removed after the drain
    suggestion: str = ""  # a start command that would serve the detected framework, for hints


def claim(deployment_id: int) -> Deployment | None:
    now = timezone.now()
    claimed = Deployment.objects.filter(pk=deployment_id, state=State.QUEUED).update(
        state=State.CLONING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None
    return Deployment.objects.select_related("service__environment").get(pk=deployment_id)


def advance(run: Run, old: str, new: str) -> None:
    moved = Deployment.objects.filter(pk=run.deployment.pk, state=old).update(
        state=new, heartbeat_at=timezone.now()
    )
    if not moved:
        raise Cancelled()
    run.deployment.state = new
    logs.publish(run.deployment.pk, {"state": new})


class Heartbeat(threading.Thread):
    """Tells the reaper this deployment's worker is alive, and notices a cancel.

    Every second it looks at the deployment's state; once the deployment is no
    longer active (cancelled, say) `cancelled` is set, which stops a build.
    """

    def __init__(self, deployment_id: int) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{deployment_id}")
        self.deployment_id = deployment_id
        self.stopped = threading.Event()
        self.cancelled = threading.Event()

    def run(self) -> None:
        beats = 0
        try:
            while not self.stopped.wait(1):
                beats += 1
                try:
                    self._beat(beats)
                except Exception as exc:  # noqa: BLE001  (a database that blinks must not end the beat)
                    log.warning("heartbeat of deployment %s missed: %s", self.deployment_id, exc)
                    connection.close()
        finally:
            connection.close()

    def _beat(self, beats: int) -> None:
        active = Deployment.objects.filter(pk=self.deployment_id, state__in=Deployment.ACTIVE_STATES)
        if beats % settings.HEARTBEAT_INTERVAL == 0:
            alive = active.update(heartbeat_at=timezone.now())
        else:
            alive = active.exists()
        if not alive:
            self.cancelled.set()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


def run(deployment_id: int) -> float | None:
    """Run one deployment. Returns seconds to wait before a retry, or None when done."""
    close_old_connections()
    deployment = claim(deployment_id)
    if deployment is None:
        log.info("deployment %s is not queued; nothing to do", deployment_id)
        return None
    if deployment.attempts == 0:
        runtime_logs.forget(deployment_id)
    current = Run(
        deployment=deployment,
        service=deployment.service,
        log=logs.BuildLog(deployment),
        runtime=get_runtime(),
    )
    heartbeat = Heartbeat(deployment_id)
    heartbeat.start()
    current.stop = heartbeat.cancelled
    retry_in = None
    try:
        _phases(current)
    except UserError as exc:
        _clean_up(current)
        _fail(current, str(exc))
    except Cancelled:
        _clean_up(current)
        current.log.write(f"==> Stopped: the deployment is {_state_of(current)}.")
    except PlatformError as exc:
        log.error("deployment %s met a platform error: %s", deployment_id, exc)
        _clean_up(current)
        retry_in = _retry_or_fail(current, str(exc))
    except Exception:
        log.exception("deployment %s failed unexpectedly", deployment_id)
        _clean_up(current)
        _fail(current, "The platform met an internal error; the operator has the details.")
    finally:
        heartbeat.stop()
        if current.checkout:
            current.checkout.remove()
    current.log.save_size()
    if retry_in is None:
        close_log(deployment_id)
    if current.went_live:
        _retire_later(current)
    return retry_in


def close_log(deployment_id: int) -> None:
    Deployment.objects.filter(pk=deployment_id).update(log_complete=True)
    logs.publish(deployment_id, {"complete": True})


def _phases(run: Run) -> None:
    image = _reuse_image(run) if run.deployment.reuses_image else _clone_and_build(run)
    _start(run, image)
    _switch(run)


def _reuse_image(run: Run) -> str:
    """Rollback, start and promote: run an earlier deployment's image again."""
    earlier = Deployment.objects.get(pk=run.deployment.source_id)
    if not earlier.image or not run.runtime.image_exists(earlier.image):
        raise UserError(
            f"The image of deployment #{earlier.pk} no longer exists; deploy again to rebuild it."
        )
    image = earlier.image
    if earlier.service_id != run.service.pk:
        # Promoted: a tag of the service's own, so pruning or deleting the other one never takes it.
        image = run.image = run.runtime.tag_image(earlier.image, run.service.pk, run.deployment.pk)
    Deployment.objects.filter(pk=run.deployment.pk).update(
        image=image,
        commit_sha=earlier.commit_sha,
        commit_message=earlier.commit_message,
        commit_author=earlier.commit_author,
    )
    copy_processes(earlier, run.deployment)
    scaling.inherit(run.service, run.deployment)
    repo_config.copy(earlier, run.deployment, run.log.write)
    run.log.write(
        f"==> Using the image of deployment #{earlier.pk} (commit {earlier.short_sha}), without rebuilding"
    )
    advance(run, State.CLONING, State.BUILDING)
    advance(run, State.BUILDING, State.STARTING)
    return image


def _clone_and_build(run: Run) -> str:
    service, deployment = run.service, run.deployment
    token = _clone_token(service)
    if not deployment.branch:
        _use_default_branch(run, token)
    run.log.write(f"==> Cloning {service.repository_url} (branch {deployment.branch})")
    try:  # again here: a row written before this rule, or copied from another environment
        source.check_upload_owner(service.repository_url, service.environment_id, service.name)
    except source.InvalidSource as exc:
        raise UserError(str(exc)) from None
    run.checkout = source.fetch(
        service.repository_url,
        deployment.branch,
        settings.WORKSPACE_DIR,
        prefix=f"d{deployment.pk}-",
        token=token,
    )
    checkout = run.checkout
    Deployment.objects.filter(pk=deployment.pk).update(
        commit_sha=checkout.commit_sha,
        commit_message=checkout.commit_message,
        commit_author=checkout.commit_author,
    )
    run.log.write(
        f"==> Commit {checkout.commit_sha[:8]}: {checkout.commit_message} ({checkout.commit_author})"
    )
    folder = source.source_dir(checkout, service.subdirectory)
    repo_config.read(deployment, folder, run.log.write)  # m3o.toml, or refuses it
    plan = build.plan(folder, service.port, _build_options(service))
    for note in plan.notes:
        run.log.write(f"==> {note}")
    run.log.write(f"==> {build.describe(plan)}")
    run.suggestion = plan.suggestion
    declare(deployment, plan.processes)
    scaling.inherit(service, deployment)
    check_deploy(service, deployment, source.source_dir(checkout, ""), run.log.write)  # or refuses
    if plan.node_request:
        _resolve_node(run, *plan.node_request)

    advance(run, State.CLONING, State.BUILDING)
    if plan.version:
        base_images.ensure(plan.version, run.log.write)
    tenant_disk.check(service, run.runtime, run.log.write)  # or refuses
    plan.dockerfile = image_policy.confine(plan.dockerfile, service.pk, run.runtime, run.log.write)
    run.image = run.runtime.build(
        service.pk, deployment.pk, plan.context, plan.dockerfile,
        on_line=run.log.write, timeout=settings.BUILD_TIMEOUT,
        memory_mb=settings.BUILD_MEMORY_MB, stop=run.stop,
    )  # fmt: skip
    Deployment.objects.filter(pk=deployment.pk).update(image=run.image)
    run.log.write(f"==> Built image {run.image}")
    tenant_disk.check(service, run.runtime, run.log.write, built=True)  # or refuses, and it is removed
    if plan.release_command:
        spec = instance_spec(service, deployment.pk, run.image)
        release.run(run.runtime, spec, plan.release_command, run.log.write, run.stop)
    advance(run, State.BUILDING, State.STARTING)
    return run.image


def _resolve_node(run: Run, asked: str, asked_by: str) -> None:
    """Fail before building when no Node.js release satisfies the request; say which one will."""
    chosen = node_versions.resolve(asked, asked_by)  # or refuses, naming what there is
    if chosen:
        run.log.write(f"==> Node.js {chosen}: the newest release that satisfies {asked}")
    else:
        run.log.write("==> The npm registry did not answer: the build will look for that Node.js itself")


def _use_default_branch(run: Run, token: str | None) -> None:
    """No branch chosen: take the remote's HEAD, as `git clone` would, and keep it on the service."""
    service, deployment = run.service, run.deployment
    branch = source.default_branch(service.repository_url, settings.WORKSPACE_DIR, token=token)
    Deployment.objects.filter(pk=deployment.pk).update(branch=branch)
    Service.objects.filter(pk=service.pk, branch="").update(branch=branch)
    deployment.branch = branch
    run.log.write(f"==> No branch chosen: using {branch}, the default branch of {service.repository_url}")


def _build_options(service: Service) -> build.Options:
    return build.Options(
        start_command=service.start_command,
        build_command=service.build_command,
        predeploy_command=service.predeploy_command,
        variables=variables.resolve(service),
    )


def _start(run: Run, image: str) -> None:
    """Start the instance and wait until it answers HTTP."""
    service, deployment = run.service, run.deployment
    replicas.unroute(deployment.pk)  # an earlier attempt's, routed as it went live, are gone
    try:
        run.instance = run.runtime.start(web_spec(service, deployment.pk, image))
    except AppExited as exc:
        _write_crash_output(run, exc.output)
        hint = hints.for_exit(exc.state, run.suggestion) if exc.state else ""
        if hint:
            raise UserError(f"{exc} {hint}") from None
        raise
    Deployment.objects.filter(pk=deployment.pk).update(
        instance_id=run.instance.id, host_port=run.instance.host_port
    )
    record(deployment.pk, "web", 0, run.instance.id, run.instance.host_port)
    run.log.write(f"==> Started; waiting for the app to answer HTTP on port {service.port}")
    instance_id = run.instance.id
    check = repo_config.health_check(deployment)  # the service's settings, or m3o.toml's
    try:
        seconds = health.wait(
            f"http://127.0.0.1:{run.instance.host_port}{check.path}",
            service.port,
            # A service that says it boots slowly (its start period) is waited for that long.
            max(settings.HEALTH_TIMEOUT, check.start_period),
            lambda: run.runtime.state(instance_id),
            spec=check.status,
            probe_timeout=check.timeout,
        )
    except UserError as exc:
        hint = _hint(run, instance_id, service.port)
        _copy_crash_output(run)
        if hint:
            raise UserError(f"{exc} {hint}") from None
        raise
    run.log.write(f"==> Healthy after {seconds:.1f} s")
    rolling.start_replicas(run)  # web replicas 2..N; beside a live deployment, one at a time
    _start_others(run, image)


def _hint(run: Run, instance_id: str, port: int) -> str:
    """What to change, from what the instance does: ran to its end, or listens elsewhere."""
    try:
        state = run.runtime.state(instance_id)
        if not state.running:
            return hints.for_exit(state, run.suggestion)
        return hints.for_port(port, run.runtime.listening_ports(instance_id), run.suggestion)
    except PlatformError:
        return ""


def instance_spec(service: Service, deployment_id: int, image: str) -> InstanceSpec:
    """What an instance of the service runs with; the reconciler starts lost ones the same way."""
    return InstanceSpec(
        service_id=service.pk,
        environment_id=service.environment_id,
        deployment_id=deployment_id,
        alias=service.name,
        image=image,
        port=service.port,
        variables=variables.resolve(service),
        limits=limits_for(service),
        # The service's start command wins over the image's, a Dockerfile's CMD included.
        command=("/bin/sh", "-c", f"exec {service.start_command}") if service.start_command else (),
        stop_grace=repo_config.grace_period(service, deployment_id),
    )


def stop_grace(service: Service) -> int:
    """Seconds between SIGTERM and SIGKILL for the service's instances."""
    return settings.STOP_TIMEOUT if service.stop_grace_period is None else service.stop_grace_period


def _clone_token(service: Service) -> str | None:
    """The owner's GitHub token for a private repository; sent to GitHub's host only."""
    if not service.is_private:
        return None
    name = service.github_repository or service.repository_url
    if urlsplit(service.repository_url).netloc != urlsplit(settings.GITHUB_URL).netloc:
        raise UserError(f"The private repository {name} is not on {settings.GITHUB_URL}; deploy it again.")
    token = github.user_token(service.environment.owner)
    if not token:
        raise UserError(f"Reconnect GitHub: the token for private repository {name} is missing or expired.")
    return token


def _copy_crash_output(run: Run) -> None:
    _write_crash_output(run, run.runtime.tail(run.instance.id, settings.CRASH_LOG_LINES))


def _write_crash_output(run: Run, lines: list[str]) -> None:
    if lines:
        run.log.write("--- the last lines the app printed ---")
        for line in lines:
            run.log.write(line)
        run.log.write("--- end of the app's output ---")
    else:
        run.log.write("(the app printed nothing)")


def web_spec(service: Service, deployment_id: int, image: str) -> InstanceSpec:
    """The web instance: the service's start command, else the Procfile's web line (for an
    image built from the repository's own Dockerfile), else the image's CMD."""
    spec = instance_spec(service, deployment_id, image)
    command = web_command(deployment_id)
    if spec.command or not command:
        return spec
    return dataclasses.replace(spec, command=("/bin/sh", "-c", f"exec {command}"))


def process_spec(service: Service, deployment_id: int, image: str, process, index: int) -> InstanceSpec:
    """An instance of a process type besides web: its Procfile line, no port, no alias."""
    return dataclasses.replace(
        instance_spec(service, deployment_id, image),
        command=("/bin/sh", "-c", f"exec {process.command}"),
        process=process.name,
        index=index,
    )


def _start_others(run: Run, image: str) -> None:
    """Once the web answers: the worker, clock, ... instances, supervised by the engine from here."""
    service, deployment = run.service, run.deployment

    def spec_for(process, index: int) -> InstanceSpec:
        return process_spec(service, deployment.pk, image, process, index)

    names = [process.name for process in start_others(run.runtime, deployment, spec_for)]
    if names:
        run.log.write(f"==> Started the process types {', '.join(names)} (restarted whenever they exit)")


def _switch(run: Run) -> None:
    """Make the new deployment the live one; the one it replaces is retired after the drain."""
    went_live, retire = _take_over(run)
    if not went_live:
        run.log.write("==> A newer deployment went live meanwhile; this one is not switched in.")
        for container in {run.instance.id, *containers(run.deployment.pk)}:
            run.runtime.remove(container)
        gone(run.deployment.pk)
        Deployment.objects.filter(pk=run.deployment.pk).update(retired_at=timezone.now())
        return
    run.went_live = True
    logs.publish(run.deployment.pk, {"state": State.RUNNING})
    run.runtime.keep_restarting(run.instance.id)
    if retire is not None:
        run.retiring = retire.pk
        run.log.write(
            f"==> Previous deployment #{retire.pk} gets no new requests; it is removed after "
            f"{settings.INGRESS_DRAIN_SECONDS:g} s, once the requests it has are answered"
        )
        logs.publish(retire.pk, {"state": State.SUPERSEDED})
    direct = f"http://127.0.0.1:{run.instance.host_port}/"
    address = service_url(run.service)
    run.log.write(f"==> Running at {address} (directly: {direct})" if address else f"==> Running at {direct}")


def _retire_later(run: Run) -> None:
    """The drain and the clean-up happen off the deployment's path: it is live already."""
    from deployments.tasks import retire

    try:
        retire.apply_async(
            args=[run.retiring, run.service.pk],
            countdown=settings.INGRESS_DRAIN_SECONDS if run.retiring else 0,
            queue=settings.DEPLOY_QUEUE,
        )
    except Exception:  # the broker is away: the reaper retires it later
        log.exception("retirement of deployment %s not scheduled", run.retiring)


def retire(deployment_id: int | None, service_id: int) -> None:
    """Remove a superseded deployment's instance (its drain is over), then prune old images."""
    close_old_connections()
    runtime = get_runtime()
    if deployment_id is not None:
        retired = Deployment.objects.filter(
            pk=deployment_id, state=State.SUPERSEDED, retired_at__isnull=True
        ).first()
        if retired is not None:
            for container in {retired.instance_id, *containers(retired.pk)} - {""}:
                runtime.remove(container)
            gone(retired.pk)
            Deployment.objects.filter(pk=retired.pk).update(retired_at=timezone.now())
    service = Service.objects.filter(pk=service_id).first()
    if service is not None:
        _prune_images(runtime, service)


def retire_overdue(late_after: float) -> list[int]:
    """Retire superseded instances whose task was lost (a worker killed during the drain)."""
    overdue = Deployment.objects.filter(
        state=State.SUPERSEDED,
        retired_at__isnull=True,
        retire_after__lt=timezone.now() - timedelta(seconds=late_after),
    ).values_list("pk", "service_id")
    done = []
    for pk, service_id in overdue:
        retire(pk, service_id)
        done.append(pk)
    return done


def _take_over(run: Run) -> tuple[bool, Deployment | None]:
    """Go live unless a newer deployment already has; name the one to retire.

    Under the routes' lock (no other switch or load in between, on any machine):
    the proxy is pointed at the new instance first, then the switch is committed
    in a short transaction. If the proxy cannot be loaded (PlatformError), nothing
    switched and the old deployment serves on. No database lock is held while the
    proxy reloads.
    """
    deployment = run.deployment
    with ingress_routes.exclusive():
        previous = Service.objects.select_related("live_deployment").get(pk=run.service.pk).live_deployment
        if previous and previous.pk > deployment.pk and previous.state == State.RUNNING:
            moved = Deployment.objects.filter(pk=deployment.pk, state=State.STARTING).update(
                state=State.SUPERSEDED, finished_at=timezone.now()
            )
            if not moved:
                raise Cancelled()
            return False, None
        replacing = previous is not None and previous.state == State.RUNNING
        ingress_routes.point(run.service, deployment, draining=replacing)
        now, retiring = timezone.now(), False
        with transaction.atomic():
            service = Service.objects.select_for_update().get(pk=run.service.pk)
            moved = Deployment.objects.filter(pk=deployment.pk, state=State.STARTING).update(
                state=State.RUNNING, healthy_at=now, finished_at=now
            )
            if moved:
                service.live_deployment = deployment
                service.save(update_fields=["live_deployment"])
                retiring = replacing and Deployment.objects.filter(
                    pk=previous.pk, state=State.RUNNING
                ).update(
                    state=State.SUPERSEDED,
                    retire_after=now + timedelta(seconds=settings.INGRESS_DRAIN_SECONDS),
                )
        if not moved:  # cancelled while the proxy loaded: serve what the database says again
            ingress_routes.load()
            raise Cancelled()
    return True, (previous if retiring else None)


def images_to_keep(service: Service) -> set[str]:
    """The live image, any in flight, and the newest IMAGES_KEPT_PER_SERVICE others to roll back to.

    Counted in images, not deployments: a rollback, a start or a promotion runs an
    image again, and must not push an older image out.
    """
    service_deployments = Deployment.objects.filter(service=service).exclude(image="")
    in_flight = service_deployments.exclude(state__in=Deployment.FINAL_STATES)
    keep = set(in_flight.values_list("image", flat=True))
    recent: list[str] = []
    earlier = service_deployments.filter(state__in=(State.SUPERSEDED, State.STOPPED)).order_by("-id")
    for image in earlier.values_list("image", flat=True).iterator():
        if image not in recent and image not in keep:
            recent.append(image)
            if len(recent) == settings.IMAGES_KEPT_PER_SERVICE:
                break
    return keep | set(recent)


def _prune_images(runtime: Runtime, service: Service) -> None:
    """Keep images for rollback (images_to_keep); remove the service's others."""
    service_deployments = Deployment.objects.filter(service=service).exclude(image="")
    # A deployment in flight has tagged its image before it writes it down: its tag is kept by
    # name, or a prune after the previous deployment removes the image a moment before it starts.
    in_flight = Deployment.objects.filter(service=service).exclude(state__in=Deployment.FINAL_STATES)
    repository = runtime.app_image_repository(service.pk)
    keep = images_to_keep(service) | {f"{repository}:d{pk}" for pk in in_flight.values_list("pk", flat=True)}
    try:
        removed = runtime.prune_images(service.pk, keep)
    except PlatformError as exc:
        log.warning("images of service %s not pruned: %s", service.pk, exc)
        return
    # Those deployments can no longer be rolled back to without a rebuild.
    service_deployments.filter(image__in=removed, state__in=Deployment.FINAL_STATES).update(image="")


def _clean_up(run: Run) -> None:
    """Remove what this run made; never raise, so the final state is always written."""
    try:
        if run.instance:
            run.runtime.remove(run.instance.id)
        run.runtime.remove_deployment(run.deployment.pk)
        if run.image:
            run.runtime.remove_image(run.image)
        run.runtime.remove_network(run.service.environment_id)
    except Exception:
        log.exception("clean-up of deployment %s was incomplete", run.deployment.pk)


def _state_of(run: Run) -> str:
    return Deployment.objects.values_list("state", flat=True).get(pk=run.deployment.pk)


def _fail(run: Run, reason: str) -> None:
    now = timezone.now()
    Deployment.objects.filter(pk=run.deployment.pk, state__in=Deployment.ACTIVE_STATES).update(
        state=State.FAILED, failure_reason=reason, finished_at=now, instance_id="", image=""
    )
    run.log.write(f"==> Deployment failed: {reason}")
    logs.publish(run.deployment.pk, {"state": State.FAILED})


def _retry_or_fail(run: Run, reason: str) -> float | None:
    attempts = run.deployment.attempts + 1
    if attempts > settings.DEPLOY_MAX_RETRIES:
        _fail(
            run,
            f"The platform could not run this deployment after {attempts} attempts "
            f"({reason}). The operator has been told; deploy again later.",
        )
        return None
    delay = settings.DEPLOY_RETRY_DELAY * 2 ** (attempts - 1)
    requeued = Deployment.objects.filter(pk=run.deployment.pk, state__in=Deployment.ACTIVE_STATES).update(
        state=State.QUEUED,
        attempts=attempts,
        instance_id="",
        image="",
        enqueued_at=timezone.now() + timedelta(seconds=delay),
        resends=0,
    )
    if not requeued:
        return None
    run.log.write(f"==> Platform problem ({reason}); retrying in {delay} s (attempt {attempts + 1})")
    logs.publish(run.deployment.pk, {"state": State.QUEUED})
    return delay
