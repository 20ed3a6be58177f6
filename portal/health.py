"""The platform's own health: what /healthz answers and `manage.py doctor` explains.

Each check returns a Check: its name, whether it passed, what was seen, and for a
failure what an operator should do about it. The web process never talks to the
container engine, so the engine is judged by the workers' heartbeats
(portal/heartbeat.py): each worker writes, every WORKER_HEARTBEAT_INTERVAL
seconds, whether its engine answered.
"""

import json
import shutil
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.db import DatabaseError, connection

from ingress.proxy import caddy, nginx
from portal import heartbeat


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _redis_address() -> str:
    url = urlsplit(settings.REDIS_URL)
    return f"{url.hostname}:{url.port or 6379}{url.path}"  # never the password


def check_database() -> Check:
    db = settings.DATABASES["default"]
    where = f"{db['ENGINE'].rsplit('.', 1)[-1]} {db.get('HOST') or ''}:{db.get('PORT') or ''}/{db['NAME']}"
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        first_line = (str(exc).strip().splitlines() or [repr(exc)])[0]
        return Check(
            "database",
            False,
            f"the database ({where}) does not answer: {first_line}",
            "start Postgres (Debian: pg_ctlcluster <version> main start) and check DATABASE_URL "
            "in the settings file",
        )
    return Check("database", True, f"the database ({where}) answers")


def check_redis() -> Check:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return Check(
            "redis",
            False,
            f"Redis at {_redis_address()} does not answer: {exc}",
            "start Redis (make serve starts it; or systemctl start redis-server) and check REDIS_URL "
            "in the settings file; deployments wait in the queue until it is back",
        )
    return Check("redis", True, f"Redis at {_redis_address()} answers")


def check_workers() -> list[Check]:
    """Two checks from the heartbeats: a worker is alive, and its engine answers."""
    try:
        beats = heartbeat.read_all()
    except redis.RedisError:
        unknown = "unknown while Redis does not answer"
        return [Check("workers", False, unknown, "bring Redis back first"), Check("engine", False, unknown)]
    if not beats:
        return [
            Check(
                "workers",
                False,
                f"no worker has reported in the last {heartbeat.expires_after()} s",
                "start the worker (make serve; or systemctl restart m3o-worker) and read its log "
                "(var/log/worker.log, or journalctl -u m3o-worker)",
            ),
            Check("engine", False, "unknown: no worker to ask", "start a worker first"),
        ]
    now = time.time()
    names = ", ".join(sorted(beat["hostname"] for beat in beats))
    workers = Check("workers", True, f"{len(beats)} worker(s) reporting: {names}")
    down = [beat for beat in beats if not beat["engine_ok"]]
    if down:
        errors = "; ".join(f"{beat['hostname']}: {beat['engine_error']}" for beat in down)
        engine = Check(
            "engine",
            False,
            f"the container engine does not answer {len(down)} worker(s): {errors}",
            "start the Docker engine (make serve starts it; or systemctl start docker) and check "
            "`docker info` as root",
        )
    else:
        oldest = max(now - beat["at"] for beat in beats)
        engine = Check(
            "engine", True, f"the container engine answers every worker (last asked {oldest:.0f} s ago)"
        )
    return [workers, engine]


def check_proxies() -> Check:
    missing = []
    if not nginx.ping():
        missing.append(f"nginx (service addresses; control at {settings.INGRESS_CONTROL_ADDRESS})")
    if not caddy.ping():
        missing.append(f"Caddy (custom domains; admin API at {settings.INGRESS_ADMIN_ADDRESS})")
    if missing:
        return Check(
            "proxies",
            False,
            "not answering: " + ", ".join(missing),
            "run scripts/start-services.sh as root (make serve does), then read var/log/proxy.log",
        )
    return Check("proxies", True, "nginx and Caddy answer")


def check_disk() -> Check:
    path = settings.VAR_DIR
    usage = shutil.disk_usage(path if path.exists() else settings.BASE_DIR)
    free_mb = usage.free // (1024 * 1024)
    if free_mb < settings.HEALTH_MIN_FREE_MB:
        return Check(
            "disk",
            False,
            f"{free_mb} MB free where {path} is, below HEALTH_MIN_FREE_MB ({settings.HEALTH_MIN_FREE_MB})",
            "free some space: `docker image prune` removes images nothing uses; old logs in var/log",
        )
    return Check("disk", True, f"{free_mb} MB free where {path} is")


def run_checks() -> list[Check]:
    return [check_database(), check_redis(), *check_workers(), check_proxies(), check_disk()]


def as_json(checks: list[Check]) -> str:
    """What a monitor reads: each part's state in a sentence (the fixes are doctor's)."""
    body = {c.name: {"ok": c.ok, "detail": c.detail} for c in checks}
    return json.dumps({"ok": all(c.ok for c in checks), "checks": body})
