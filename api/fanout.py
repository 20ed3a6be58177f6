"""One blocking read of a runtime log stream per event loop, however many follow it.

Two hundred people following one service used to be two hundred Redis connections
each waking on every line, parsing the same entries two hundred times. Here the
first follower of a stream in an event loop starts a reader that blocks on XREAD
for everyone; each follower gets the entries on a queue of its own and keeps its
own cursor, so one that joins late, or falls behind, reads what it missed from the
stream itself and never sees a line twice.
"""

import asyncio
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

from deployments import runtime_logs

_WAIT_MS = 5000
_QUEUE = 1000  # entries a follower may lag behind before it reads the stream itself


def _client() -> aioredis.Redis:
    return aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=_WAIT_MS / 1000 + 10)


class _Follower:
    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=_QUEUE)
        self.lagged = False  # entries were dropped: read them from the stream
        self.error: Exception | None = None

    def give(self, item) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.lagged = True


class _Reader:
    def __init__(self, key: tuple[int, str], cursor: str) -> None:
        self.key = key
        self.cursor = cursor
        self.followers: set[_Follower] = set()
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        client = _client()
        try:
            while self.followers:
                answer = await client.xread({self.key[1]: self.cursor}, count=500, block=_WAIT_MS)
                for _, entries in answer or ():
                    for entry_id, fields in entries:
                        line = runtime_logs.line_from(entry_id, fields)
                        self.cursor = line.id
                        for follower in list(self.followers):
                            follower.give(line)
        except (RedisError, OSError) as exc:  # Redis away: every follower learns it and hangs up
            for follower in list(self.followers):
                follower.error = exc
                follower.give(None)
        finally:
            if _readers.get(self.key) is self:
                del _readers[self.key]
            await client.aclose()


# {(event loop, stream): its reader}: under ASGI one loop per web worker process.
_readers: dict[tuple[int, str], _Reader] = {}


def _join(name: str, cursor: str) -> tuple[_Reader, _Follower]:
    key = (id(asyncio.get_running_loop()), name)
    reader = _readers.get(key)
    if reader is None or (reader.task is not None and reader.task.done()):
        reader = _readers[key] = _Reader(key, cursor)
    follower = _Follower()
    reader.followers.add(follower)
    if reader.task is None:
        reader.task = asyncio.create_task(reader.run())
    return reader, follower


async def follow(name: str, cursor: str, client: aioredis.Redis) -> AsyncIterator[runtime_logs.Line | None]:
    """The stream's lines after `cursor`, as they come; None now and then while none do.

    `client` is the follower's own connection, used only to catch up."""
    reader, follower = _join(name, cursor)
    try:
        caught_up = False
        while True:
            if not caught_up:
                # What came before the reader's cursor, or while this follower lagged.
                follower.lagged = False
                while True:
                    batch = await client.xrange(name, min=f"({cursor}", count=500)
                    for entry_id, fields in batch:
                        line = runtime_logs.line_from(entry_id, fields)
                        cursor = line.id
                        yield line
                    if len(batch) < 500:
                        break
                caught_up = True
            try:
                item = await asyncio.wait_for(follower.queue.get(), timeout=_WAIT_MS / 1000)
            except TimeoutError:
                if reader.task is not None and reader.task.done():  # it met an error of its own
                    reader.followers.discard(follower)
                    reader, follower = _join(name, cursor)
                    caught_up = False
                yield None
                continue
            if follower.error is not None:
                raise follower.error
            if follower.lagged:
                while not follower.queue.empty():
                    follower.queue.get_nowait()
                caught_up = False
                continue
            if item is not None and runtime_logs.order(item.id) > runtime_logs.order(cursor):
                cursor = item.id
                yield item
    finally:
        reader.followers.discard(follower)
