"""A command run to its end in a one-off container of a service's image.

The pre-deploy command (deployments/release.py), `m3o run-command` and cron runs
(jobs/runner.py) all run here: the image, variables, network and limits of an
instance, no port, no restart, a time limit, and the output passed on line by line
as it is printed. The container is always removed, whatever happens.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from django.db import connections

from deployments.errors import PlatformError
from deployments.runtime import InstanceSpec, InstanceState, Runtime

POLL_INTERVAL = 0.1
_OUTPUT_LINES = 100_000  # the lines the follower starts with: all of them, as printed from the first
_FOLLOWER_GRACE = 5.0  # how long the output may lag behind the container's end


@dataclass(frozen=True)
class Ended:
    state: InstanceState
    seconds: float
    timed_out: bool = False
    stopped: bool = False  # the caller asked it to stop (a cancel, a replacing cron run)


def run(
    runtime: Runtime,
    spec: InstanceSpec,
    command: str,
    *,
    name: str,
    timeout: float,
    on_line: Callable[[str], None],
    stop: threading.Event,
    on_start: Callable[[str], None] | None = None,
) -> Ended:
    """Run `command` with /bin/sh -c; `name` tells this one-off apart from the instances."""
    started = time.monotonic()
    one_off = replace(
        spec,
        # Not the service's own name: the environment's other services keep reaching the live one.
        alias=f"{spec.alias}_{name}",
        command=("/bin/sh", "-c", command),
        one_off=True,
    )
    instance = runtime.start(one_off)
    follower = threading.Thread(
        target=_copy_output, args=(runtime, instance.id, on_line), daemon=True, name=f"one-off-{name}"
    )
    timed_out = stopped = False
    try:
        if on_start is not None:
            on_start(instance.id)
        follower.start()
        deadline = started + timeout
        while (state := runtime.state(instance.id)).running:
            if stop.is_set():
                stopped = True
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(POLL_INTERVAL)
        if not (timed_out or stopped):
            follower.join(_FOLLOWER_GRACE)  # its last lines, before the container goes
    finally:
        runtime.remove(instance.id)
    if follower.is_alive():
        follower.join(_FOLLOWER_GRACE)
    return Ended(state=state, seconds=time.monotonic() - started, timed_out=timed_out, stopped=stopped)


def _copy_output(runtime: Runtime, instance_id: str, on_line: Callable[[str], None]) -> None:
    try:
        for _, text in runtime.follow_logs(instance_id, since=None, tail=_OUTPUT_LINES):
            on_line(text)
    except PlatformError as exc:
        on_line(f"[the output could not be read to its end: {exc}]")
    finally:
        connections.close_all()  # this thread's own, opened if on_line writes to the database
