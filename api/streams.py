"""Follow mode: log lines as newline-delimited JSON, one object a line, as they come.

Build logs end once the deployment has settled, with a last line holding the
deployment. Runtime logs go on until the client hangs up or API_STREAM_SECONDS
pass; an empty line now and then keeps proxies from closing an idle stream and
lets the server notice a client that left.
"""

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from django.conf import settings
from django.db import close_old_connections
from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer

from deployments import logs
from deployments.errors import PlatformError
from deployments.models import Deployment, LogLine, Service
from deployments.runtime import get_runtime

MEDIA_TYPE = "application/x-ndjson"
_KEEPALIVE = 15.0


class NDJSONRenderer(BaseRenderer):
    """Lets content negotiation accept the streams' type; the streams write their own bytes."""

    media_type = MEDIA_TYPE
    format = "ndjson"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() + b"\n"


def _line(obj: dict) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def response(lines: Iterator[bytes]) -> StreamingHttpResponse:
    answer = StreamingHttpResponse(lines, content_type=MEDIA_TYPE)
    answer["Cache-Control"] = "no-cache"
    answer["X-Accel-Buffering"] = "no"
    return answer


def build_log(deployment_id: int, after: int, describe: Callable[[Deployment], dict]) -> Iterator[bytes]:
    for item in logs.follow(deployment_id, after):
        if isinstance(item, LogLine):
            yield _line({"seq": item.seq, "text": item.text})
        else:
            yield _line({"deployment": describe(item)})


def _nanoseconds(stamp: str) -> int:
    """Docker's RFC 3339 stamps trim trailing zeros, so they do not sort as text."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp()
    return int(seconds) * 10**9 + int((fraction + "0" * 9)[:9])


def runtime_log(
    service_id: int, since: float | None, grep: str, tail: int, poll: float = 1.0
) -> Iterator[bytes]:
    deadline = time.monotonic() + settings.API_STREAM_SECONDS
    last_sent = time.monotonic()
    newest = 0
    runtime = get_runtime()
    while time.monotonic() < deadline:
        close_old_connections()
        service = Service.objects.select_related("live_deployment").filter(pk=service_id).first()
        if service is None:
            yield _line({"error": "The service was deleted."})
            return
        live = service.live_deployment
        if live is not None and live.state == Deployment.State.RUNNING and live.instance_id:
            try:
                pairs = runtime.logs(live.instance_id, tail=tail, since=since)
            except PlatformError:
                pairs = []
            tail = 1000  # after the first look, everything new
            for stamp, text in pairs:
                try:
                    at = _nanoseconds(stamp)
                except ValueError:
                    continue
                if at <= newest:
                    continue
                newest = at
                since = at / 10**9
                if grep.lower() in text.lower():
                    last_sent = time.monotonic()
                    yield _line({"time": stamp, "text": text})
        if time.monotonic() - last_sent > _KEEPALIVE:
            last_sent = time.monotonic()
            yield b"\n"
        time.sleep(poll)
