"""Small subnets for environment networks, carved from one private range.

The engine's default address pools hold about 30 bridge networks, and every
environment has one: the 31st environment could not start anything. Instead
each network is made with a subnet of NETWORK_PREFIX bits from NETWORK_POOL,
chosen here among those no network on the engine overlaps.

The engine is the arbiter between workers: it refuses a subnet that overlaps
one it already has (of any installation), so when two workers pick the same
one at once only one gets it and the other picks again. Picking at random among
the free ones makes such a meeting rare. A subnet is free again as soon as its
network is removed, so nothing has to be written down or handed back.
"""

import ipaddress
import random
from collections.abc import Iterable

from django.conf import settings

from deployments.errors import PlatformError


def pool() -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(settings.NETWORK_POOL)


def capacity() -> int:
    return 2 ** (settings.NETWORK_PREFIX - pool().prefixlen)


def _taken(in_use: Iterable[str]) -> set[int]:
    """Indices (0 .. capacity-1) of the pool's subnets that a network on the engine overlaps."""
    whole, prefix = pool(), settings.NETWORK_PREFIX
    size = 2 ** (32 - prefix)
    first = int(whole.network_address)
    taken: set[int] = set()
    for text in in_use:
        try:
            used = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        if used.version != 4 or not used.overlaps(whole):
            continue
        low = max(int(used.network_address), first) - first
        high = min(int(used.broadcast_address), int(whole.broadcast_address)) - first
        taken.update(range(low // size, high // size + 1))
    return taken


def pick(in_use: Iterable[str], count: int = 1) -> list[str]:
    """Up to `count` free subnets in random order; a PlatformError when the pool is full."""
    taken = _taken(in_use)
    total = capacity()
    if len(taken) >= total:
        raise PlatformError(
            f"No address space is left for another environment network: all {total} subnets "
            f"(/{settings.NETWORK_PREFIX}) of NETWORK_POOL={settings.NETWORK_POOL} are in use. "
            "The operator can widen NETWORK_POOL or remove environments."
        )
    whole, size = pool(), 2 ** (32 - settings.NETWORK_PREFIX)
    chosen: list[int] = []
    # Random probes are cheap while the pool is mostly free; a full scan when it is not.
    for _ in range(count * 8):
        index = random.randrange(total)  # noqa: S311 (spreading workers apart, not a secret)
        if index not in taken and index not in chosen:
            chosen.append(index)
            if len(chosen) == count:
                break
    else:
        free = [i for i in range(total) if i not in taken and i not in chosen]
        chosen += random.sample(free, min(count - len(chosen), len(free)))
    base = int(whole.network_address)
    return [str(ipaddress.IPv4Network((base + i * size, settings.NETWORK_PREFIX))) for i in chosen]


def is_overlap(explanation: str) -> bool:
    """The engine's words for "another network has (part of) this subnet"."""
    return "overlaps" in (explanation or "").lower()
