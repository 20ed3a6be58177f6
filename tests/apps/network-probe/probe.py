"""Tries each way out a tenant's code could take and prints one line per try:
"probe <host>:<port>: open|blocked (...)", then a name lookup and a registry fetch."""

import socket
import sys
import urllib.request

REGISTRY = "https://pypi.org/simple/six/"


def connect(target: str) -> str:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        return f"blocked ({exc})"
    return "open"


for target in sys.argv[1:]:
    print(f"probe {target}: {connect(target)}", flush=True)
try:
    print(f"probe dns pypi.org: {socket.gethostbyname('pypi.org')}", flush=True)
except OSError as exc:
    print(f"probe dns pypi.org: failed ({exc})", flush=True)
try:
    with urllib.request.urlopen(REGISTRY, timeout=20) as answer:
        print(f"probe {REGISTRY}: {answer.status}", flush=True)
except OSError as exc:
    print(f"probe {REGISTRY}: failed ({exc})", flush=True)
