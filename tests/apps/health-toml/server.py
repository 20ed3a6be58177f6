"""A web app that is healthy only where its m3o.toml says: GET /healthz answers 200 (until
GET /break), every other path 500. With the platform's default check (GET /, a status
below 500) it never counts as up; with its m3o.toml it does.
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

broken = False


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        global broken
        if self.path == "/break":
            broken = True
            status = 200
        else:
            status = 200 if self.path == "/healthz" and not broken else 500
        body = f"healthz broken={broken}".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print("listening on", os.environ["PORT"], flush=True)
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
