"""Does a domain point at this platform? The one place that resolves users' names."""

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from django.conf import settings

TIMEOUT = 5.0
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns")


@dataclass(frozen=True)
class Check:
    points_at_us: bool
    found: tuple[str, ...]
    explanation: str


def addresses(name: str) -> set[str]:
    """The addresses a name resolves to; empty when it does not resolve (in TIMEOUT s)."""
    # RFC 6761: every .localhost name is the loopback, whatever a resolver says.
    if name == "localhost" or name.endswith(".localhost"):
        return {"127.0.0.1"}
    future = _pool.submit(socket.getaddrinfo, name, None, proto=socket.IPPROTO_TCP)
    try:
        infos = future.result(timeout=TIMEOUT)
    except (OSError, FutureTimeout, UnicodeError):
        return set()
    return {str(ipaddress.ip_address(info[4][0].split("%")[0])) for info in infos}


def ours(service_host: str) -> set[str]:
    return {settings.INGRESS_PUBLIC_IP} | addresses(service_host)


def check(domain: str, service_host: str) -> Check:
    found = addresses(domain)
    if not found:
        return Check(False, (), f"{domain} does not resolve yet.")
    expected = ours(service_host)
    if found & expected:
        return Check(True, tuple(sorted(found)), f"{domain} points here ({', '.join(sorted(found))}).")
    return Check(
        False,
        tuple(sorted(found)),
        f"{domain} points at {', '.join(sorted(found))}, not at {', '.join(sorted(expected))}.",
    )
