"""Is a custom domain proven and pointing here? The one place that resolves users' names.

A domain is proven by a TXT record only its owner can publish (the domain's own
token, as Heroku, Render and Vercel ask for), and it must point at the platform
(CNAME to the service's address, or A to INGRESS_PUBLIC_IP). Pointing alone
proves nothing: anyone may point a name they do not own at us, or a name whose
owner pointed it here may be claimed by another tenant.

The resolver is dnspython's, asking the system's resolvers or DOMAIN_DNS_SERVERS.
"""

import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.nameserver
import dns.resolver
from django.conf import settings

from ingress.names import challenge_name, challenge_value


@dataclass(frozen=True)
class Lookup:
    values: tuple[str, ...]
    failed: bool = False  # the DNS did not answer (timeout, SERVFAIL): nothing is known


@dataclass(frozen=True)
class Check:
    proven: bool | None  # None: the DNS could not be asked, so nothing changes
    points_at_us: bool
    has_record: bool
    explanation: str


def _resolver() -> dns.resolver.Resolver:
    servers = settings.DOMAIN_DNS_SERVERS
    resolver = dns.resolver.Resolver(configure=not servers)
    if servers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(*_host_port(s)) for s in servers]
    resolver.lifetime = settings.DOMAIN_DNS_TIMEOUT
    resolver.timeout = min(2.0, settings.DOMAIN_DNS_TIMEOUT)
    return resolver


def _host_port(server: str) -> tuple[str, int]:
    if server.count(":") == 1:
        host, port = server.split(":")
        return host, int(port)
    return server, 53


def lookup(name: str, rdtype: str) -> Lookup:
    try:
        answer = _resolver().resolve(name, rdtype, search=False, raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.YXDOMAIN):
        return Lookup(())
    except (dns.exception.DNSException, OSError, ValueError):
        return Lookup((), failed=True)
    if rdtype == "TXT":
        return Lookup(tuple(b"".join(r.strings).decode("utf-8", "replace") for r in answer))
    return Lookup(tuple(str(ipaddress.ip_address(r.address)) for r in answer))


def addresses(name: str) -> Lookup:
    """The addresses a name resolves to (its CNAMEs followed)."""
    # RFC 6761: every .localhost name is the loopback, whatever a resolver says.
    if name == "localhost" or name.endswith(".localhost"):
        return Lookup(("127.0.0.1",))
    found = [lookup(name, "A"), lookup(name, "AAAA")]
    return Lookup(tuple(sorted({a for f in found for a in f.values})), failed=all(f.failed for f in found))


def ours(service_host: str) -> set[str]:
    return {settings.INGRESS_PUBLIC_IP} | (set(addresses(service_host).values) if service_host else set())


def check(domain: str, service_host: str, token: str) -> Check:
    record, expected = challenge_name(domain), challenge_value(token)
    txt = lookup(record, "TXT")
    found = addresses(domain)
    has_record = expected in txt.values
    here = ours(service_host)
    points_at_us = bool(set(found.values) & here)
    if has_record and points_at_us:
        return Check(True, True, True, f"{domain} points here and its TXT record proves it is yours.")
    problems = []
    if txt.failed:
        problems.append(f"the DNS did not answer for {record}")
    elif not has_record:
        others = f" (it has {', '.join(repr(v[:80]) for v in txt.values[:3])})" if txt.values else ""
        problems.append(f'the TXT record {record} = "{expected}" is missing{others}')
    if found.failed:
        problems.append(f"the DNS did not answer for {domain}")
    elif not found.values:
        problems.append(f"{domain} does not resolve yet")
    elif not points_at_us:
        problems.append(f"{domain} points at {', '.join(found.values)}, not at {', '.join(sorted(here))}")
    explanation = "Not proven yet: " + "; ".join(problems) + "."
    # A definite answer that something is missing decides; an unanswered question does not.
    definite_miss = (not txt.failed and not has_record) or (not found.failed and not points_at_us)
    return Check(False if definite_miss else None, points_at_us, has_record, explanation)
