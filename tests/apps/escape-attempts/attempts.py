"""What untrusted code tries once it runs: raw sockets, setuid, many processes.

Each attempt prints one line, "<what>: refused (...)" or "<what>: ALLOWED (...)".
"""

import os
import socket
import subprocess
import sys

MAX_CHILDREN = 400  # a bounded bomb: enough to pass any sane limit, not enough to hurt


def raw() -> None:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        print("raw socket: ALLOWED (opened)")
    except OSError as exc:
        print(f"raw socket: refused ({exc})")


def setuid() -> None:
    done = subprocess.run(["rootcat", "/root-only"], capture_output=True, text=True)
    if done.returncode == 0:
        print(f"setuid: ALLOWED (read {done.stdout.strip()!r})")
    else:
        print(f"setuid: refused ({done.stderr.strip()})")


def processes() -> None:
    """Start children that wait on a pipe until one is refused, then let them all go."""
    read_end, write_end = os.pipe()
    children, refusal = [], None
    while len(children) < MAX_CHILDREN:
        try:
            pid = os.fork()
        except OSError as exc:
            refusal = exc
            break
        if pid == 0:
            os.close(write_end)
            os.read(read_end, 1)  # returns when the parent closes its end
            os._exit(0)
        children.append(pid)
    os.close(write_end)
    os.close(read_end)
    for pid in children:
        os.waitpid(pid, 0)
    if refusal is None:
        print(f"processes: ALLOWED ({len(children)} started)")
    else:
        print(f"processes: refused after {len(children)} ({refusal})")


if __name__ == "__main__":
    {"raw": raw, "setuid": setuid, "processes": processes}[sys.argv[1]]()
