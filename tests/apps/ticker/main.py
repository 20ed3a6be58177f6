"""Serves HTTP, prints a numbered tick every half second, and calls its neighbour on request."""

import os
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "ticker v1"


def tick():
    number = 0
    while True:
        number += 1
        print(f"tick {number}", flush=True)
        time.sleep(0.5)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/call/"):
            # /call/<host>: ask another service of the environment, by its name.
            try:
                with urllib.request.urlopen(f"http://{self.path[6:]}:8080/", timeout=3) as answer:
                    body = b"reached: " + answer.read()
            except OSError as exc:
                body = f"unreachable: {exc}".encode()
        else:
            body = f"{VERSION} {os.environ.get('GREETING', '')}".strip().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        print("request", self.path, flush=True)


threading.Thread(target=tick, daemon=True).start()
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
