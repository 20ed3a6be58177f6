"""The address of the person making a request, behind the operator's reverse proxies.

Each proxy appends the address it received the request from to X-Forwarded-For,
so with TRUSTED_PROXIES proxies of our own in front, the entry that many places
from the right end is the client's; anything left of it was written by the client
and may be forged. Without proxies REMOTE_ADDR is the client. Rate limits and
the audit log both key on this, so one client's failures never count against
everyone the proxy forwards.
"""

import ipaddress

from django.conf import settings


def address(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXIES
    if not count:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        return remote  # not through all of our proxies: only the connection is known
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
