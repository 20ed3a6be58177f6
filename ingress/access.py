"""The proxy's access log of one service: status, path and duration of each request."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Request:
    at: datetime
    method: str
    host: str
    path: str
    status: int
    duration_ms: float
    size: int


def access_log(service, limit: int = 100) -> list[Request]:
    """The service's last `limit` requests through the proxy (HTTP and HTTPS), oldest first."""
    from ingress import proxy

    entries = []
    for path in proxy.access_log_paths(f"s{service.pk}"):
        for line in _last_lines(path, limit):
            entry = _parse(line)
            if entry is not None:
                entries.append(entry)
    entries.sort(key=lambda entry: entry.at)
    return entries[-limit:] if limit > 0 else []


def _parse(line: bytes) -> Request | None:
    try:
        item = json.loads(line)
        request = item.get("request") or {}
        return Request(
            at=datetime.fromtimestamp(float(item["ts"]), tz=UTC),
            method=str(request.get("method", "")),
            host=str(request.get("host", "")),
            path=str(request.get("uri", ""))[:2000],
            status=int(item.get("status", 0)),
            duration_ms=round(float(item.get("duration", 0)) * 1000, 2),
            size=int(item.get("size", 0)),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _last_lines(path: Path, limit: int) -> list[bytes]:
    """Read from the end, a chunk at a time, until `limit` whole lines are in hand."""
    if limit <= 0:
        return []
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return []
    with handle:
        end = handle.seek(0, 2)
        data, position = b"", end
        while position > 0 and data.count(b"\n") <= limit:
            position = max(0, position - CHUNK)
            handle.seek(position)
            data = handle.read(end - position)
    lines = data.splitlines()
    if position > 0:
        lines = lines[1:]  # the first is cut
    return [line for line in lines if line.strip()][-limit:]
