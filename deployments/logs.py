"""Build log lines: cleaned, capped, numbered, stored and published live.

Lines are stored with a sequence number per deployment, so a page or the CLI
asks for "lines after N". Each stored line is also published on Redis, so a
follower learns of it at once instead of polling the database.
"""

import json
import logging
import re
import time
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db.models import Max

from deployments.models import Deployment, LogLine

log = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def channel(deployment_id: int) -> str:
    return f"{settings.PLATFORM_NAME}:deployment:{deployment_id}:log"


def clean(text: str) -> str:
    text = _ANSI.sub("", text)
    text = _CONTROL.sub("", text.replace("\t", "    ").replace("\r", ""))
    limit = settings.LOG_MAX_LINE_CHARS
    if len(text) > limit:
        text = text[:limit] + f" [... line cut at {limit} characters]"
    return text


_redis_client: redis.Redis | None = None


def redis_client() -> redis.Redis:
    global _redis_client
    if _redis_client is None:
        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return _redis_client


class BuildLog:
    """Appends to one deployment's log. Only the worker that claimed it writes."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment_id = deployment.pk
        # From the lines themselves: the count on the row may lag behind.
        last = LogLine.objects.filter(deployment_id=deployment.pk).aggregate(last=Max("seq"))["last"]
        self.size = last or 0
        self.cut = False

    def write(self, text: str) -> None:
        for line in str(text).splitlines() or [""]:
            self._append(clean(line))

    def _append(self, text: str) -> None:
        limit = settings.LOG_MAX_LINES
        if self.size >= limit:
            if not self.cut:
                self.cut = True
                self._store(f"[log cut: more than {limit} lines; the rest is not kept]")
            return
        self._store(text)

    def _store(self, text: str) -> None:
        # One INSERT and one publish per line; the count on the deployment row
        # is brought up to date now and then, not per line (builds are chatty).
        seq = self.size + 1
        LogLine.objects.create(deployment_id=self.deployment_id, seq=seq, text=text)
        self.size = seq
        publish(self.deployment_id, {"seq": seq})
        if seq % 50 == 0:
            self.save_size()

    def save_size(self) -> None:
        Deployment.objects.filter(pk=self.deployment_id).update(log_size=self.size)


def publish(deployment_id: int, message: dict) -> None:
    try:
        redis_client().publish(channel(deployment_id), json.dumps(message))
    except redis.RedisError as exc:
        # Followers fall back to reading the database; the line is stored.
        log.warning("could not publish a log line: %s", exc)


def lines_after(deployment_id: int, after: int, limit: int = 1000) -> list[LogLine]:
    return list(LogLine.objects.filter(deployment_id=deployment_id, seq__gt=after).order_by("seq")[:limit])


def follow(deployment_id: int, after: int = 0, poll: float = 1.0) -> Iterator[LogLine | Deployment]:
    """Yield log lines as they come, then the deployment once it has settled.

    Subscribes before reading the database so no line falls between the two;
    Redis only wakes us, the database stays the one source of lines.
    """
    pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(channel(deployment_id))
    except redis.RedisError:
        pubsub = None
    try:
        while True:
            for line in lines_after(deployment_id, after):
                after = line.seq
                yield line
            deployment = Deployment.objects.get(pk=deployment_id)
            if deployment.settled:
                for line in lines_after(deployment_id, after):
                    after = line.seq
                    yield line
                yield deployment
                return
            if pubsub is not None:
                try:
                    pubsub.get_message(timeout=poll)
                    continue
                except redis.RedisError:
                    pubsub = None
            time.sleep(poll)
    finally:
        if pubsub is not None:
            pubsub.close()
