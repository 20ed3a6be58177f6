"""The worker's side of a run: claim it, start a one-off container of the live image,
pass its output on, write how it ended. A final state is always written."""

import contextlib
import logging
import threading

import redis
from django.db import close_old_connections, connections
from django.utils import timezone

from deployments import one_off
from deployments.errors import PlatformError, UserError
from deployments.models import Deployment
from deployments.pipeline import instance_spec
from deployments.runtime import get_runtime
from jobs.models import JobRun
from jobs.run_logs import RunLog

log = logging.getLogger(__name__)
State = JobRun.State
_STOP_CHECK = 1.0  # how often a run looks whether it was asked to stop


def execute(run_id: int) -> None:
    close_old_connections()
    # Claimed with a conditional UPDATE: a task delivered twice runs the command once.
    if not JobRun.objects.filter(pk=run_id, state=State.QUEUED).update(
        state=State.RUNNING, started_at=timezone.now()
    ):
        return
    run = JobRun.objects.select_related("service__environment", "service__live_deployment").get(pk=run_id)
    output = RunLog(run.pk)
    final = {
        "state": State.FAILED,
        "detail": "The platform met an internal error; the operator has the details.",
    }
    try:
        final = _run(run, output)
    except (UserError, PlatformError) as exc:
        final = {"state": State.FAILED, "detail": str(exc)[:300]}
    except Exception:
        log.exception("run %s met an error", run_id)
    finally:
        if final.get("detail"):
            with contextlib.suppress(redis.RedisError):
                output.write(f"==> {final['detail']}")
        JobRun.objects.filter(pk=run_id).update(finished_at=timezone.now(), log=output.kept(), **final)


def _run(run: JobRun, output: RunLog) -> dict:
    live = run.service.live_deployment
    if live is None or live.state != Deployment.State.RUNNING or not live.image:
        return {"state": State.FAILED, "detail": f"{run.service.name} is not running; deploy it first."}
    JobRun.objects.filter(pk=run.pk).update(deployment=live)
    spec = instance_spec(run.service, live.pk, live.image)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_for_stop, args=(run.pk, stop), daemon=True)
    watcher.start()
    try:
        ended = one_off.run(
            get_runtime(), spec, run.command, name=f"run{run.pk}", timeout=run.timeout,
            on_line=output.write, stop=stop,
        )  # fmt: skip
    finally:
        stop.set()
    if ended.stopped:  # whoever asked said why on the row
        why = JobRun.objects.filter(pk=run.pk).values_list("detail", flat=True).first()
        return {"state": State.STOPPED, "detail": why or "Stopped before its end."}
    if ended.timed_out:
        return {"state": State.TIMED_OUT, "detail": f"Stopped after its time limit of {run.timeout} s."}
    code = ended.state.exit_code
    if ended.state.oom_killed:
        return {"state": State.FAILED, "exit_code": code, "detail": "It ran out of memory and was stopped."}
    return {"state": State.SUCCEEDED if code == 0 else State.FAILED, "exit_code": code, "detail": ""}


def _watch_for_stop(run_id: int, stop: threading.Event) -> None:
    try:
        while not stop.wait(_STOP_CHECK):
            if JobRun.objects.filter(pk=run_id, stop_requested=True).exists():
                stop.set()
    finally:
        connections.close_all()
