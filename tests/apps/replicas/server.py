"""A web app that answers with its version and its container's hostname, for the replica tests.

GET /health answers 200, or 500 after GET /break (until the process restarts). When
ONLY_AS (e.g. "web.1,web.2") does not name this replica (M3O_PROCESS), it exits at once:
a version whose other replicas never pass their health check (at once, rather than at the
end of the health timeout).
"""

import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "v1"
ONLY_AS = ""
HOSTNAME = socket.gethostname()
broken = False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        global broken
        status = 200
        broken = broken or self.path == "/break"
        if self.path == "/health" and broken:
            status = 500
        body = f"{VERSION} {HOSTNAME}".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if ONLY_AS and os.environ.get("M3O_PROCESS") not in ONLY_AS.split(","):
    sys.exit(f"{os.environ.get('M3O_PROCESS')} refuses to start: only {ONLY_AS} does")
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
print("listening on", os.environ["PORT"], "as", os.environ.get("M3O_PROCESS"), flush=True)
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
