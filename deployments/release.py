"""The pre-deploy command (a Procfile's `release:`): once per deployment, in the
new image, with the service's variables, before anything is switched. When it
fails, the deployment fails there and the previous one keeps serving."""

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from django.conf import settings

from deployments.errors import Cancelled, UserError
from deployments.runtime import InstanceSpec, Runtime

POLL_INTERVAL = 0.1
OUTPUT_LINES = 200


def run(
    runtime: Runtime,
    spec: InstanceSpec,
    command: str,
    on_line: Callable[[str], None],
    stop: threading.Event,
) -> None:
    on_line(f"==> Running the pre-deploy command: {command}")
    started = time.monotonic()
    one_off = replace(
        spec,
        # Not the service's own name: the environment's other services keep reaching the live one.
        alias=f"{spec.alias}_release",
        command=("/bin/sh", "-c", command),
        one_off=True,
    )
    instance = runtime.start(one_off)
    try:
        deadline = started + settings.RELEASE_TIMEOUT
        while (state := runtime.state(instance.id)).running:
            if stop.is_set():
                raise Cancelled()
            if time.monotonic() > deadline:
                raise UserError(
                    f"The pre-deploy command ran longer than {settings.RELEASE_TIMEOUT} s and was stopped; "
                    "the previous deployment keeps serving."
                )
            time.sleep(POLL_INTERVAL)
        for line in runtime.tail(instance.id, OUTPUT_LINES):
            on_line(line)
    finally:
        runtime.remove(instance.id)
    if state.exit_code != 0:
        raise UserError(
            f"The pre-deploy command ({command}) {state.describe()}; nothing was switched, "
            "the previous deployment keeps serving."
        )
    on_line(f"==> Pre-deploy command done in {time.monotonic() - started:.1f} s")
