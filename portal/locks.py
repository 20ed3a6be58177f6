"""Locks that hold across processes and machines, kept in Redis.

Workers may run on several machines, so a lock in one process's memory or in
one machine's files protects nothing; Redis is the one thing they all share.
A lock expires by itself, so a worker killed while holding it blocks no one
for longer than `timeout`.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import redis
from django.conf import settings

log = logging.getLogger(__name__)

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    return _client


@contextmanager
def held(name: str, *, timeout: float, wait: float) -> Iterator[bool]:
    """Hold the lock `name` for the block; yields False when it was not had within `wait`
    seconds (another holder) or when Redis cannot be reached, and the caller decides."""
    lock = _redis().lock(f"{settings.PLATFORM_NAME}:lock:{name}", timeout=timeout, blocking_timeout=wait)
    try:
        got = lock.acquire(blocking=wait > 0)
    except redis.RedisError as exc:
        log.warning("lock %s not taken (%s)", name, exc)
        got = False
    try:
        yield got
    finally:
        if got:
            with suppress(redis.RedisError):  # expired meanwhile, or Redis away: it expires by itself
                lock.release()
