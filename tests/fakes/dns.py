"""A tiny authoritative DNS server on 127.0.0.1 for the tests: real UDP, real wire format.

The platform's resolver (ingress/dns.py, DOMAIN_DNS_SERVERS) asks it as it would ask a
public resolver, so what is tested is our lookup, not a stand-in for it. Tests publish
and withdraw records with set()/remove(); every other name answers NXDOMAIN.
"""

import os
import socket
import threading

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from django.conf import settings

TTL = 1


class FakeDns:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self.address = "{}:{}".format(*self._socket.getsockname())
        self._thread = threading.Thread(target=self._serve, name="fake-dns", daemon=True)
        self._thread.start()

    def set(self, name: str, rdtype: str, *values: str) -> None:
        """Publish the records of one name and type (replacing what was there)."""
        with self._lock:
            self.records[(_key(name), rdtype.upper())] = list(values)

    def remove(self, name: str, rdtype: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self.records if k[0] == _key(name) and rdtype in (None, k[1])]:
                del self.records[key]

    def clear(self) -> None:
        with self._lock:
            self.records.clear()

    def close(self) -> None:
        self._socket.close()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self._socket.recvfrom(4096)
            except OSError:
                return  # closed
            try:
                reply = self._answer(dns.message.from_wire(data))
            except Exception:  # noqa: BLE001, S112  (a malformed query gets no answer, as from a real server)
                continue
            try:
                self._socket.sendto(reply.to_wire(), peer)
            except OSError:
                return

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA | dns.flags.RA
        question = query.question[0]
        name, rdtype = question.name, dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            known = any(key[0] == _key(name.to_text()) for key in self.records)
            # Follow CNAMEs inside our zone, as a recursive resolver hands back the whole chain.
            for _hop in range(8):
                key = _key(name.to_text())
                if (key, rdtype) in self.records:
                    reply.answer.append(_rrset(name, rdtype, self.records[(key, rdtype)]))
                    break
                target = self.records.get((key, "CNAME"))
                if not target or rdtype == "CNAME":
                    break
                reply.answer.append(_rrset(name, "CNAME", target))
                name = dns.name.from_text(target[0])
        if not known:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply


def _key(name: str) -> str:
    return name.lower().rstrip(".")


def _rrset(name: dns.name.Name, rdtype: str, values: list[str]) -> dns.rrset.RRset:
    if rdtype == "TXT":
        values = ['"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values]
    elif rdtype == "CNAME":
        values = [value.rstrip(".") + "." for value in values]
    return dns.rrset.from_text_list(name, TTL, dns.rdataclass.IN, rdtype, values)


@pytest.fixture(scope="session", autouse=True)
def _fake_dns_server():
    """Every test (and every worker the tests start) resolves custom domains here, never on
    the network: an unknown name answers NXDOMAIN at once."""
    server = FakeDns()
    previous = settings.DOMAIN_DNS_SERVERS, os.environ.get("DOMAIN_DNS_SERVERS")
    settings.DOMAIN_DNS_SERVERS = [server.address]
    os.environ["DOMAIN_DNS_SERVERS"] = server.address
    yield server
    settings.DOMAIN_DNS_SERVERS = previous[0]
    if previous[1] is None:
        os.environ.pop("DOMAIN_DNS_SERVERS", None)
    else:
        os.environ["DOMAIN_DNS_SERVERS"] = previous[1]
    server.close()


@pytest.fixture
def fake_dns(_fake_dns_server):
    """The tests' DNS, empty at the start and at the end of the test."""
    _fake_dns_server.clear()
    yield _fake_dns_server
    _fake_dns_server.clear()
