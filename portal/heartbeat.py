"""Workers' heartbeats: each worker says every few seconds that it lives and whether its engine answers.

The web process (/healthz, `manage.py doctor`) has no way to the engine by design;
it reads these keys instead. A key expires after three missed beats, so a dead
worker disappears from the list on its own.
"""

import json
import logging
import socket
import threading
import time

import redis
from django.conf import settings

from deployments.errors import PlatformError
from deployments.logs import redis_client
from deployments.runtime import get_runtime

log = logging.getLogger(__name__)


def _prefix() -> str:
    return f"{settings.PLATFORM_NAME}:worker-heartbeat:"


def expires_after() -> int:
    return 3 * settings.WORKER_HEARTBEAT_INTERVAL


def beat_once(hostname: str) -> None:
    try:
        get_runtime().engine_id()
        engine_ok, engine_error = True, ""
    except PlatformError as exc:
        engine_ok, engine_error = False, str(exc)
    record = {"hostname": hostname, "at": time.time(), "engine_ok": engine_ok, "engine_error": engine_error}
    redis_client().set(_prefix() + hostname, json.dumps(record), ex=expires_after())


def read_all() -> list[dict]:
    client = redis_client()
    keys = sorted(client.scan_iter(match=_prefix() + "*", count=500))
    values = client.mget(keys) if keys else []
    return [json.loads(value) for value in values if value]


def start(hostname: str | None = None) -> threading.Thread:
    name = hostname or f"{socket.gethostname()}:{threading.get_native_id()}"

    def run() -> None:
        while True:
            try:
                beat_once(name)
            except redis.RedisError as exc:
                log.warning("worker heartbeat not written: %s", exc)
            except Exception:
                log.exception("the worker heartbeat met an error")
            time.sleep(settings.WORKER_HEARTBEAT_INTERVAL)

    thread = threading.Thread(target=run, daemon=True, name="worker-heartbeat")
    thread.start()
    return thread
