"""nginx serves the services' plain-HTTP addresses: a configuration file, checked, then a graceful reload.

A reload starts new workers with the new file while the old ones finish the
requests they have, so no connection is refused. apply() returns only once
the new configuration answers (its workers answer on a socket of their
generation's own) and no worker of an older one still accepts connections;
or, `draining`, as soon as it answers: nginx lets old workers take new
connections for ~100 ms more, which is harmless when the upstreams they send
them to stay up for a drain period. INGRESS_CONTROL_ADDRESS says which
generation serves, for ping() and for start-services.sh.
"""

import contextlib
import hashlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from django.conf import settings

from deployments.errors import PlatformError
from ingress.proxy import pages
from ingress.proxy.site import Site

CONFIG = "nginx.conf"
# The same shape as the HTTPS proxy's access log lines, so one reader parses both.
LOG_FORMAT = (
    '{"ts":$msec,"request":{"method":"$request_method","host":"$host","uri":"$request_uri"},'
    '"status":$status,"duration":$request_time,"size":$body_bytes_sent}'
)
ROLL_BYTES = 10 * 1024 * 1024
GENERATION = "@generation@"  # stands for the generation until the content is known


def apply(state: Path, sites: list[Site], access_log, *, draining: bool = False) -> None:
    """Check and load a new configuration; back only when it serves. PlatformError otherwise."""
    for folder in ("access", "nginx-temp", "run"):
        (state / folder).mkdir(exist_ok=True)
    # The generation names the content: loading the same routes again (the periodic
    # sync, mostly) is a no-op, and does not close every client's idle connection.
    template = render(state, sites, GENERATION, access_log)
    generation = hashlib.sha256(template.encode()).hexdigest()[:16]
    logs = [access_log(site) for site in sites]
    if _generation() == generation and not _to_roll(logs):
        return
    config = state / CONFIG
    new = state / f"{CONFIG}.new"
    new.write_text(template.replace(GENERATION, generation))
    check = _nginx(state, new, "-t", "-q")
    if check.returncode != 0:
        new.unlink(missing_ok=True)
        raise PlatformError(f"The proxy refused its new configuration: {_message(check.stderr)}")
    _roll_logs(logs)
    master = _master(state)
    before = _workers(master)
    os.replace(new, config)
    try:
        os.kill(master, signal.SIGHUP)
    except OSError as exc:
        raise PlatformError(f"The proxy (nginx, pid {master}) could not be told to reload: {exc}") from exc
    _wait_for(state, master, generation, set() if draining else before)


def ping() -> bool:
    return _generation() is not None


def render(state: Path, sites: list[Site], generation: str, access_log) -> str:
    """The whole configuration. `access_log(site)` names the file of a site's requests."""
    temp = state / "nginx-temp"
    lines = [
        f"# Written by ingress/proxy/nginx.py, generation {generation}: replaced whole on every change.",
        "worker_processes auto;",
        f"pid {state / 'nginx.pid'};",
        f"error_log {state / 'nginx-error.log'} warn;",
        # Long-lived connections (WebSockets) of an old configuration end after this long.
        f"worker_shutdown_timeout {settings.INGRESS_GRACE_SECONDS}s;",
        "events { worker_connections 4096; }",
        "http {",
        "  access_log off;",
        f"  log_format service escape=json '{LOG_FORMAT}';",
        "  server_tokens off;",
        '  default_type "text/html; charset=utf-8";',
        # Bodies stream through in both directions, so workers never write a temp file.
        "  client_max_body_size 0;",
        "  proxy_request_buffering off;",
        "  proxy_max_temp_file_size 0;",
        *(
            f"  {kind}_temp_path {temp / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        "  proxy_http_version 1.1;",
        # A stopped container's address fails fast with the platform's page, not a hang.
        "  proxy_connect_timeout 2s;",
        "  proxy_read_timeout 1h;",
        "  proxy_send_timeout 1h;",
        "  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }",
        "  proxy_set_header Host $http_host;",
        "  proxy_set_header Upgrade $http_upgrade;",
        # Empty unless upgrading, so connections to the upstream stay open for the next request.
        "  proxy_set_header Connection $connection_upgrade;",
        # The edge: what a client claims in its own X-Forwarded-For is not passed on.
        "  proxy_set_header X-Forwarded-For $remote_addr;",
        "  proxy_set_header X-Forwarded-Proto $scheme;",
        "  proxy_set_header X-Forwarded-Host $host;",
        f"  server {{ listen {settings.INGRESS_CONTROL_ADDRESS}; location = /generation "
        f"{{ return 200 {_quote(generation)}; }} location / {{ return 404; }} }}",
        # A socket of this generation's own: only its workers listen on it, so it answers
        # as soon as they are up (on a shared port the old workers take every connection
        # until they quit, some 100 ms later).
        f"  server {{ listen unix:{_socket(state, generation)}; return 200 {_quote(generation)}; }}",
        f"  server {{ listen {_listen()} default_server; {_page(404, pages.no_such_service())} }}",
    ]
    for site in sites:
        lines += _site(site, access_log(site))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _site(site: Site, log: Path) -> list[str]:
    logging = f"access_log {log} service;"
    lines = []
    if site.hosts:
        if site.upstreams:
            # Round-robin over the web replicas (nginx's default balancing).
            servers = " ".join(f"server {upstream};" for upstream in site.upstreams)
            lines.append(f"  upstream {site.key} {{ {servers} keepalive 32; }}")
            serve = (
                # A replica going away (drained, restarting) refuses: the request goes to the next
                # one. nginx never retries a non-idempotent request (POST) once it was sent.
                f"location / {{ proxy_pass http://{site.key}; proxy_next_upstream error timeout; "
                f"error_page 502 504 =502 @not_answering; }} "
                f"location @not_answering {{ {_page(502, pages.not_answering())} }}"
            )
        elif site.down:
            serve = f"location / {{ {_page(502, pages.not_answering())} }}"
        elif site.unhealthy:
            serve = f"location / {{ {_page(503, pages.unhealthy())} }}"
        else:
            serve = f"location / {{ {_page(503, pages.not_running())} }}"
        lines.append(
            f"  server {{ listen {_listen()}; server_name {' '.join(site.hosts)}; {logging} {serve} }}"
        )
    if site.domains:
        port = settings.INGRESS_HTTPS_PORT
        suffix = "" if port == 443 else f":{port}"
        challenge = f"http://127.0.0.1:{settings.INGRESS_CHALLENGE_PORT}"
        lines.append(
            f"  server {{ listen {_listen()}; server_name {' '.join(site.domains)}; {logging} "
            # The HTTPS proxy answers its own ACME HTTP-01 challenges; everything else moves to HTTPS.
            f"location /.well-known/acme-challenge/ {{ proxy_pass {challenge}; }} "
            f"location / {{ return 308 https://$host{suffix}$request_uri; }} }}"
        )
    return lines


def _listen() -> str:
    return f"{settings.INGRESS_BIND}:{settings.INGRESS_HTTP_PORT}"


def _page(status: int, body: str) -> str:
    return f"add_header Cache-Control no-store always; return {status} {_quote(body)};"


def _quote(text: str) -> str:
    if "$" in text:
        raise ValueError("nginx would read $ as a variable")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _message(stderr: str) -> str:
    lines = [line.removeprefix("nginx: ") for line in stderr.splitlines() if line.strip()]
    return " ".join(lines)[:500] or "no reason given"


def _binary() -> str:
    """nginx from the PATH, or /usr/sbin where Debian puts it (not on a normal user's PATH)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("nginx", path=search) or "nginx"


def _nginx(state: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [_binary(), "-p", f"{state}/", "-c", str(config), *args],
            capture_output=True, text=True, timeout=settings.INGRESS_TIMEOUT, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PlatformError(f"The proxy's configuration could not be checked: {exc}") from exc


def _master(state: Path) -> int:
    try:
        pid = int((state / "nginx.pid").read_text().strip())
        # A pid file left by a master that died may name another process by now.
        if b"nginx: master" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            raise ValueError(pid)
    except (OSError, ValueError) as exc:
        raise PlatformError(f"The proxy (nginx) is not running: no master in {state / 'nginx.pid'}") from exc
    return pid


def _workers(master: int) -> set[int]:
    """The master's workers that still accept connections (a retiring one renames itself)."""
    workers = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == master and "worker process" in title and "shutting down" not in title:
            workers.add(int(entry.name))
    return workers


def _wait_for(state: Path, master: int, generation: str, old_workers: set[int]) -> None:
    deadline = time.monotonic() + settings.INGRESS_TIMEOUT
    while True:
        # The master starts the new workers first and retires the old ones a moment later;
        # until then, a new connection may still land on the old configuration.
        if _serves(state, generation) and not (old_workers and _workers(master) & old_workers):
            _sweep_sockets(state, generation)
            return
        if time.monotonic() > deadline:
            raise PlatformError(
                f"The proxy did not take its new configuration within {settings.INGRESS_TIMEOUT:g}s: "
                f"{_error_log_tail(state)}"
            )
        time.sleep(0.01)


def _socket(state: Path, generation: str) -> Path:
    return state / "run" / f"{generation}.sock"


def _serves(state: Path, generation: str) -> bool:
    """Do workers of this generation answer? Asked on its own socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1)
            client.connect(str(_socket(state, generation)))
            client.sendall(b"GET / HTTP/1.0\r\n\r\n")
            answer = b""
            while chunk := client.recv(4096):
                answer += chunk
    except OSError:
        return False
    return answer.startswith(b"HTTP/1.1 200") and answer.endswith(generation.encode())


def _sweep_sockets(state: Path, generation: str) -> None:
    """Older generations' sockets: nginx removes them as it closes them, this is in case it did not."""
    for path in (state / "run").glob("*.sock"):
        if path.name != f"{generation}.sock":
            path.unlink(missing_ok=True)


def _generation() -> str | None:
    """What the control server answers, on a new connection (a kept one may reach an old worker)."""
    host, port = settings.INGRESS_CONTROL_ADDRESS.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=1)
    try:
        connection.request("GET", "/generation")
        response = connection.getresponse()
        return response.read().decode() if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def _error_log_tail(state: Path) -> str:
    try:
        lines = (state / "nginx-error.log").read_text(errors="replace").splitlines()
    except OSError:
        return "its error log is missing"
    return " | ".join(lines[-3:]) or "its error log is empty"


def _to_roll(logs: list[Path]) -> list[Path]:
    big = []
    for log in logs:
        with contextlib.suppress(OSError):
            if log.stat().st_size > ROLL_BYTES:
                big.append(log)
    return big


def _roll_logs(logs: list[Path]) -> None:
    """Keep one older file of each big access log; the reload that follows opens new ones."""
    for log in _to_roll(logs):
        with contextlib.suppress(OSError):
            os.replace(log, log.with_suffix(".log.1"))


def initial(state: Path) -> Path:
    """A configuration to start with: the 404 page and the control server, no services yet."""
    state.mkdir(parents=True, exist_ok=True)
    (state / "access").mkdir(exist_ok=True)
    (state / "nginx-temp").mkdir(exist_ok=True)
    (state / "run").mkdir(exist_ok=True)
    config = state / CONFIG
    config.write_text(render(state, [], "initial", lambda site: None))
    return config


def launch(state: Path, out) -> subprocess.Popen:
    """Run nginx in the foreground (tests, benchmarks), its files in `state`."""
    config = initial(state)
    return subprocess.Popen(
        [_binary(), "-p", f"{state}/", "-c", str(config), "-g", "daemon off;"],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
