"""The worker side of runtime logs: copy every running instance's output into Redis.

One thread in each worker process looks at the engine every COLLECT_INTERVAL
seconds and follows each running instance of this installation with a thread of
its own, blocked on the engine's log stream, so a line reaches Redis (and every
follower) as it is printed. Only one worker per engine collects at a time: it
holds a lease in Redis that it renews; when that worker dies the lease runs out
and another one takes over, resuming each stream after its last stored line.
"""

import logging
import threading
import time

import redis
from django.conf import settings
from django.db import DatabaseError
from redis.exceptions import LockError

from deployments import processes, runtime_logs
from deployments.errors import PlatformError
from deployments.logs import redis_client
from deployments.runtime import get_runtime

log = logging.getLogger(__name__)

COLLECT_INTERVAL = 2.0
# The instances' state and restarts are read back every few looks: one inspect per instance.
OBSERVE_EVERY = 2
LEASE_SECONDS = 15


class Collector(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True, name="runtime-log-collector")
        self.runtime = get_runtime()
        self.following: dict[str, threading.Thread] = {}
        self.holding = threading.Event()
        self.lease = None
        self.looks = 0

    def run(self) -> None:
        while True:
            try:
                self.collect_once()
            except (PlatformError, redis.RedisError, DatabaseError) as exc:
                log.warning("runtime logs not collected this time: %s", exc)
            except Exception:
                log.exception("the runtime log collector met an error")
            time.sleep(COLLECT_INTERVAL)

    def collect_once(self) -> None:
        if not self._hold_lease():
            return
        self.following = {i: t for i, t in self.following.items() if t.is_alive()}
        for instance_id, (deployment_id, process, replica) in self.runtime.running_processes().items():
            if instance_id not in self.following:
                thread = threading.Thread(
                    target=self.follow,
                    args=(instance_id, deployment_id, process, replica),
                    daemon=True,
                    name="runtime-log",
                )
                self.following[instance_id] = thread
                thread.start()
        # The same worker reads the instances' state and restarts back into the database.
        self.looks += 1
        if self.looks % OBSERVE_EVERY == 0:
            processes.observe(self.runtime)

    def _hold_lease(self) -> bool:
        if self.lease is None:
            name = f"{settings.PLATFORM_NAME}:lease:runtime-logs:{self.runtime.engine_id()}"
            self.lease = redis_client().lock(name, timeout=LEASE_SECONDS)
        try:
            if self.holding.is_set():
                self.lease.reacquire()
            elif self.lease.acquire(blocking=False):
                log.info("collecting runtime logs on this worker")
                self.holding.set()
        except LockError:
            log.warning("another worker collects runtime logs now")
            self.holding.clear()
        return self.holding.is_set()

    def follow(self, instance_id: str, deployment_id: int, process: str = "web", replica: int = 0) -> None:
        """Copy one instance's output until it stops, the engine hangs up or the lease is lost.

        A worker the engine restarts is followed again at the next look, after its last line."""
        try:
            newest = runtime_logs.last_stamp(deployment_id, process=process, replica=replica)
            since = newest / 10**9 if newest else None
            for stamp, text in self.runtime.follow_logs(
                instance_id, since=since, tail=settings.RUNTIME_LOG_MAX_LINES
            ):
                try:
                    at = runtime_logs.nanoseconds(stamp)
                except ValueError:
                    continue
                if at <= newest:  # "since" counts whole lines from that time again
                    continue
                newest = at
                runtime_logs.append_newer(deployment_id, stamp, text, process, replica)
                if not self.holding.is_set():
                    return
        except (PlatformError, redis.RedisError) as exc:
            log.warning("stopped following instance %s: %s", instance_id[:12], exc)
        except Exception:
            log.exception("stopped following instance %s", instance_id[:12])


_started = threading.Lock()
_collector: Collector | None = None


def start() -> None:
    """Start this process's collector once (the worker calls it when ready)."""
    global _collector
    with _started:
        if _collector is None and settings.COLLECT_RUNTIME_LOGS:
            _collector = Collector()
            _collector.start()
