"""Runtime logs: what the running instances print, kept in Redis for everyone to read.

A worker copies each running instance's output into a Redis stream per deployment
(deployments/log_collector.py), capped at RUNTIME_LOG_MAX_LINES and dropped
RUNTIME_LOG_KEEP_SECONDS after its last line. The dashboard, the API and the CLI
read only these streams, never the container engine, so the web process needs
no engine at all and may run on another machine than the instances.

Each entry holds the engine's timestamp (`t`) and the cleaned line (`x`); the
entry's id is the cursor a follower asks "after".
"""

import re
from dataclasses import dataclass

import redis
from django.conf import settings

from deployments.logs import clean, redis_client

_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def key(deployment_id: int, process: str = "web") -> str:
    """The web process's stream keeps the name it had before process types; each other one has its own."""
    if process == "web":
        return f"{settings.PLATFORM_NAME}:runtime:{deployment_id}:log"
    return f"{settings.PLATFORM_NAME}:runtime:{deployment_id}:p:{process}:log"


def nanoseconds(stamp: str) -> int:
    """Docker's RFC 3339 stamps trim trailing zeros, so they do not sort as text."""
    from datetime import UTC, datetime

    whole, _, fraction = stamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp()
    return int(seconds) * 10**9 + int((fraction + "0" * 9)[:9])


@dataclass(frozen=True)
class Line:
    id: str
    time: str
    text: str

    def as_dict(self) -> dict:
        return {"id": self.id, "time": self.time, "text": self.text}


def line_from(entry_id, fields) -> Line:
    def text(value) -> str:
        return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)

    return Line(id=text(entry_id), time=text(fields.get(b"t", b"")), text=text(fields.get(b"x", b"")))


def append(deployment_id: int, pairs: list[tuple[str, str]], client: redis.Redis | None = None) -> None:
    """Store (timestamp, text) pairs, oldest first. Only the collector writes."""
    if not pairs:
        return
    client = client or redis_client()
    name = key(deployment_id)
    with client.pipeline(transaction=False) as pipe:
        for stamp, text in pairs:
            # "~": Redis trims in whole blocks, cheaply; the cap holds to within a block.
            pipe.xadd(
                name, {"t": stamp, "x": clean(text)}, maxlen=settings.RUNTIME_LOG_MAX_LINES, approximate=True
            )
        pipe.expire(name, settings.RUNTIME_LOG_KEEP_SECONDS)
        pipe.execute()


def append_newer(deployment_id: int, stamp: str, text: str, process: str = "web", replica: int = 0) -> bool:
    """Store one line unless the stream already holds a line of this replica as new or newer.

    Two followers of one instance can overlap (a worker that lost its lease finishing
    its last line while another takes over, or one that resumes from a stale mark);
    the check and the append are one step under WATCH, so each line is stored once
    and each replica's lines stay in the order it printed. The replicas of a process
    type share its stream and print at the same time: each is checked against its own
    newest line (a mark in a hash beside the stream), not the stream's.
    """
    at = nanoseconds(stamp)
    name = key(deployment_id, process)
    with redis_client().pipeline() as pipe:
        while True:
            try:
                pipe.watch(name, _marks(name))
                newest = _newest(pipe, name, replica)
                if newest and at <= newest:
                    pipe.unwatch()
                    return False
                pipe.multi()
                cap = settings.RUNTIME_LOG_MAX_LINES
                pipe.xadd(name, {"t": stamp, "x": clean(text)}, maxlen=cap, approximate=True)
                pipe.hset(_marks(name), str(replica), at)
                pipe.expire(name, settings.RUNTIME_LOG_KEEP_SECONDS)
                pipe.expire(_marks(name), settings.RUNTIME_LOG_KEEP_SECONDS)
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def _marks(name: str) -> str:
    return f"{name}:marks"


def _newest(client, name: str, replica: int) -> int:
    """The replica's newest stored line in nanoseconds; 0 when none (or the stream is gone)."""
    if not client.exists(name):
        return 0
    if client.exists(_marks(name)):
        mark = client.hget(_marks(name), str(replica))
        return int(mark) if mark is not None else 0
    entries = client.xrevrange(name, count=1)  # a stream from before the marks: one instance wrote it
    return nanoseconds(line_from(*entries[0]).time) if entries else 0


def last_stamp(
    deployment_id: int, client: redis.Redis | None = None, process: str = "web", replica: int = 0
) -> int:
    """The replica's newest stored line's time in nanoseconds, 0 when none: where the collector resumes."""
    return _newest(client or redis_client(), key(deployment_id, process), replica)


def forget(deployment_id: int) -> None:
    """Drop what a stream of this id holds before the deployment's first run.

    Deployment ids come from the database, the streams outlive it: after a database is
    restored or made anew (every test run), a new deployment would show the lines of
    an old one with its id, and resume after them."""
    client = redis_client()
    client.delete(key(deployment_id), _marks(key(deployment_id)))
    for name in client.scan_iter(match=f"{key(deployment_id, '*')}*", count=1000):
        client.delete(name)


def valid_cursor(after: str) -> bool:
    return bool(_STREAM_ID.match(after))


def order(entry_id: str) -> tuple[int, int]:
    """Stream ids compare as two numbers, not as text ("10-0" comes after "9-0")."""
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def recent(
    deployment_id: int,
    *,
    tail: int = 200,
    since: float | None = None,
    grep: str = "",
    after: str = "",
    process: str = "web",
) -> list[Line]:
    """The last `tail` lines; or those printed since a time; or those after a cursor. Filtered by text."""
    client = redis_client()
    name = key(deployment_id, process)
    if after:
        lines = [
            line_from(*e) for e in client.xrange(name, min=f"({after}", count=settings.RUNTIME_LOG_MAX_LINES)
        ]
    elif since is not None:
        # Entry ids are the time a line was stored, never before it was printed.
        start = max(int(since * 1000), 0)
        lines = [
            line_from(*e) for e in client.xrange(name, min=f"{start}-0", count=settings.RUNTIME_LOG_MAX_LINES)
        ]
        lines = [line for line in lines if _printed_since(line, since)][-tail:]
    else:
        lines = [line_from(*e) for e in reversed(client.xrevrange(name, count=tail))]
    needle = grep.lower()
    return [line for line in lines if needle in line.text.lower()]


def _printed_since(line: Line, since: float) -> bool:
    try:
        return nanoseconds(line.time) >= int(since * 10**9)
    except ValueError:
        return False
