"""The pre-deploy command (a Procfile's `release:`): once per deployment, in the
new image, with the service's variables, before anything is switched. When it
fails, the deployment fails there and the previous one keeps serving."""

import threading
from collections.abc import Callable

from django.conf import settings

from deployments import one_off
from deployments.errors import Cancelled, UserError
from deployments.runtime import InstanceSpec, Runtime


def run(
    runtime: Runtime,
    spec: InstanceSpec,
    command: str,
    on_line: Callable[[str], None],
    stop: threading.Event,
) -> None:
    on_line(f"==> Running the pre-deploy command: {command}")
    ended = one_off.run(
        runtime, spec, command, name="release", timeout=settings.RELEASE_TIMEOUT, on_line=on_line, stop=stop
    )
    if ended.stopped:
        raise Cancelled()
    if ended.timed_out:
        raise UserError(
            f"The pre-deploy command ran longer than {settings.RELEASE_TIMEOUT} s and was stopped; "
            "the previous deployment keeps serving."
        )
    if ended.state.exit_code != 0:
        raise UserError(
            f"The pre-deploy command ({command}) {ended.state.describe()}; nothing was switched, "
            "the previous deployment keeps serving."
        )
    on_line(f"==> Pre-deploy command done in {ended.seconds:.1f} s")
