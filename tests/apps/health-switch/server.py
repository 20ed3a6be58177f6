"""A web app with switches, for the health check and graceful stop tests.

GET /health answers 200 until GET /break; GET /ignore-term makes it ignore SIGTERM
(it says so, and is killed at the end of its grace period). On SIGTERM it says so
and exits. Every answer names the process, so a restart shows.
"""

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

broken = False
ignore_term = False
STARTED = os.urandom(4).hex()  # names this process: a restart shows as another value


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        global broken, ignore_term
        status = 200
        if self.path == "/break":
            broken = True
        elif self.path == "/ignore-term":
            ignore_term = True
        elif self.path == "/health" and broken:
            status = 500
        body = f"process {STARTED} broken={broken}".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def on_term(signum, frame):
    if ignore_term:
        print("got SIGTERM, ignoring it", flush=True)
        return
    print("got SIGTERM, shutting down cleanly", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
print("listening on", os.environ["PORT"], flush=True)
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
