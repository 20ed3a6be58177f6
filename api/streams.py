"""Follow mode: log lines as newline-delimited JSON, one object a line, as they come.

Build logs end once the deployment has settled, with a last line holding the
deployment. Runtime logs go on until the client hangs up or API_STREAM_SECONDS
pass; an empty line now and then keeps proxies from closing an idle stream and
lets the server notice a client that left.

The streams are asynchronous: under the ASGI server (`make run`'s gunicorn with
uvicorn's worker) a follower waits on Redis in the event loop and holds no thread,
so hundreds can follow while the pages keep answering. Under a WSGI server (the
tests' live server) the same stream runs on an event loop of the request's own thread.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer

from api import fanout
from deployments import logs, runtime_logs
from deployments.models import Deployment, Service

MEDIA_TYPE = "application/x-ndjson"
_KEEPALIVE = 15.0
_LIVE_CHECK = 10.0  # how often a runtime follower asks which deployment is live
_WAIT_MS = 5000


class NDJSONRenderer(BaseRenderer):
    """Lets content negotiation accept the streams' type; the streams write their own bytes."""

    media_type = MEDIA_TYPE
    format = "ndjson"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() + b"\n"


def _line(obj: dict) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def response(request, lines: AsyncIterator[bytes]) -> StreamingHttpResponse:
    request = getattr(request, "_request", request)
    if isinstance(request, ASGIRequest):
        # The request's database connection would otherwise stay open as long as the
        # stream does: two hundred followers would take two hundred connections.
        connections.close_all()
        content = lines
    else:
        content = _blocking(lines)
    answer = StreamingHttpResponse(content, content_type=MEDIA_TYPE)
    answer["Cache-Control"] = "no-cache"
    answer["X-Accel-Buffering"] = "no"
    return answer


def _blocking(lines: AsyncIterator[bytes]) -> Iterator[bytes]:
    """An async stream for a WSGI server: one event loop in the request's own thread."""
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                chunk = loop.run_until_complete(anext(lines))
            except StopAsyncIteration:
                return
            yield chunk
    finally:
        loop.run_until_complete(lines.aclose())
        loop.close()


def _briefly(query: Callable) -> Callable:
    """Run a query off the event loop and hang up the connection after it: a follower
    asks now and then, and holds no database connection in between."""

    def run(*args, **kwargs):
        try:
            return query(*args, **kwargs)
        finally:
            connections.close_all()

    return sync_to_async(run)


def _redis() -> aioredis.Redis:
    # One connection per follower, made in its own event loop; a blocking read holds it.
    return aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=_WAIT_MS / 1000 + 10)


async def build_log(
    deployment_id: int, after: int, describe: Callable[[Deployment], dict]
) -> AsyncIterator[bytes]:
    """Subscribes before reading the database so no line falls between the two; Redis only
    wakes the follower, the database stays the one source of lines."""
    client = _redis()
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(logs.channel(deployment_id))
        while True:
            lines, described = await _briefly(_build_step)(deployment_id, after, describe)
            for line in lines:
                after = line.seq
                yield _line({"seq": line.seq, "text": line.text})
            if described is not None:
                yield _line({"deployment": described})
                return
            await pubsub.get_message(timeout=1.0)
    finally:
        await pubsub.aclose()
        await client.aclose()


def _build_step(deployment_id: int, after: int, describe: Callable[[Deployment], dict]):
    """New lines, and once the deployment has settled, the last lines and its description."""
    lines = logs.lines_after(deployment_id, after)
    deployment = Deployment.objects.get(pk=deployment_id)
    if not deployment.settled:
        return lines, None
    after = lines[-1].seq if lines else after
    return [*lines, *logs.lines_after(deployment_id, after)], describe(deployment)


_GONE = -1


def _live_deployment(service_id: int) -> int | None:
    """The running deployment of the service, None when nothing runs, _GONE when deleted."""
    service = Service.objects.select_related("live_deployment").filter(pk=service_id).first()
    if service is None:
        return _GONE
    live = service.live_deployment
    if live is not None and live.state == Deployment.State.RUNNING and live.instance_id:
        return live.pk
    return None


# {service id: (when asked, live deployment)}: followers of one service in this
# process share one question to the database every _LIVE_CHECK seconds.
_live_seen: dict[int, tuple[float, int | None]] = {}


async def _live(service_id: int, fresh: bool) -> int | None:
    seen = _live_seen.get(service_id)
    if not fresh and seen is not None and time.monotonic() - seen[0] < _LIVE_CHECK:
        return seen[1]
    live = await _briefly(_live_deployment)(service_id)
    _live_seen[service_id] = (time.monotonic(), live)
    return live


async def runtime_log(
    service_id: int, since: float | None, grep: str, tail: int, process: str = "web"
) -> AsyncIterator[bytes]:
    """The live instance's lines from Redis, as the collector stores them; a redeploy's new
    instance is followed from its first line. Followers of one stream share one blocking
    read of it (api/fanout.py). `process`: the process type (web, worker, ...) whose lines."""
    deadline = time.monotonic() + settings.API_STREAM_SECONDS
    last_sent = time.monotonic()
    needle = grep.lower()
    client = _redis()
    try:
        live = await _live(service_id, fresh=True)
        cursor = "0-0"
        if live is not None and live != _GONE:
            # The cursor first: a line stored meanwhile comes with the follow below.
            newest = await client.xrevrange(runtime_logs.key(live, process), count=1)
            cursor = newest[0][0].decode() if newest else "0-0"
            recent = sync_to_async(runtime_logs.recent, thread_sensitive=False)
            for line in await recent(live, tail=tail, since=since, process=process):
                if runtime_logs.order(line.id) <= runtime_logs.order(cursor) and needle in line.text.lower():
                    last_sent = time.monotonic()
                    yield _line({"time": line.time, "text": line.text})
        while time.monotonic() < deadline:
            if live == _GONE:
                yield _line({"error": "The service was deleted."})
                return
            if live is None:
                await asyncio.sleep(1.0)
            else:
                checked = time.monotonic()
                lines = fanout.follow(runtime_logs.key(live, process), cursor, client)
                try:
                    async for line in lines:
                        if line is not None:
                            cursor = line.id
                            if needle in line.text.lower():
                                last_sent = time.monotonic()
                                yield _line({"time": line.time, "text": line.text})
                        if time.monotonic() - last_sent > _KEEPALIVE:
                            last_sent = time.monotonic()
                            yield b"\n"
                        if time.monotonic() - checked > _LIVE_CHECK or time.monotonic() >= deadline:
                            break
                finally:
                    await lines.aclose()
            if time.monotonic() - last_sent > _KEEPALIVE:
                last_sent = time.monotonic()
                yield b"\n"
            now_live = await _live(service_id, fresh=False)
            if now_live != live:
                live, cursor = now_live, "0-0"
    finally:
        await client.aclose()
