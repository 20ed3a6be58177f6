"""A run's output: a Redis stream of its own while it runs (what the CLI and the page
follow), and its last lines on the run's row once it has ended (the history)."""

from datetime import UTC, datetime

from django.conf import settings

from deployments import runtime_logs
from deployments.logs import clean, redis_client

KEPT_LINES = 500  # on the row, for the history
KEPT_CHARS = 64_000


def key(run_id: int) -> str:
    return f"{settings.PLATFORM_NAME}:run:{run_id}:log"


def forget(run_id: int) -> None:
    """Run ids come from the database and streams outlive it (a test database made anew)."""
    redis_client().delete(key(run_id))


class RunLog:
    """Appends a run's lines to its stream and remembers the last ones. One writer: the worker."""

    def __init__(self, run_id: int) -> None:
        self.name = key(run_id)
        self.lines: list[str] = []
        self.count = 0

    def write(self, text: str) -> None:
        for line in str(text).splitlines() or [""]:
            line = clean(line)
            self.count += 1
            self.lines.append(line)
            del self.lines[:-KEPT_LINES]
            stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            client = redis_client()
            with client.pipeline(transaction=False) as pipe:
                pipe.xadd(
                    self.name,
                    {"t": stamp, "x": line},
                    maxlen=settings.RUNTIME_LOG_MAX_LINES,
                    approximate=True,
                )
                pipe.expire(self.name, settings.RUNTIME_LOG_KEEP_SECONDS)
                pipe.execute()

    def kept(self) -> str:
        text = "\n".join(self.lines)[-KEPT_CHARS:]
        if self.count > len(self.lines):
            text = f"[the first {self.count - len(self.lines)} lines are not kept]\n" + text
        return text


def lines_after(run_id: int, after: str = "0-0", count: int = 1000) -> list[runtime_logs.Line]:
    entries = redis_client().xrange(key(run_id), min=f"({after}", count=count)
    return [runtime_logs.line_from(*entry) for entry in entries]
