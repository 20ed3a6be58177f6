"""Which address a service gets: chosen once, as the service is made, and kept.

The address is `<service>-<environment>` under APPS_DOMAIN when no other service
has it. Environments are named per owner, so two tenants can both have a `web` in
`production`, and names join ambiguously (`a-b` in `c`, `a` in `b-c`): the second
gets the same label with a short suffix of its environment (`web-production-k3x9`).
The suffix is derived from the environment's id and SECRET_KEY, so it is the same
for every service of that environment and cannot be worked out, and squatted, by
another tenant in advance. The unique label column decides who gets a name, also
when two requests race: each candidate is inserted, and a refused insert moves on
to the next candidate, never check-then-insert.
"""

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from contextlib import suppress
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction

from ingress.names import InvalidName, check_label, host_for

MAX_LABEL = 63
SUFFIX_LENGTH = 4
# Suffixes derived from the environment before a random one; one is all it
# takes unless someone else already holds that exact label.
DERIVED_SUFFIXES = 3
RANDOM_TRIES = 20


def plain_label(service_name: str, environment_name: str) -> str:
    return f"{service_name}-{environment_name}"


def suffix(environment_id: int, attempt: int = 0) -> str:
    """The environment's own short suffix (attempt 0), or its next ones should that be taken."""
    message = f"service-address:{environment_id}:{attempt}".encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:SUFFIX_LENGTH]


def _random_suffix() -> str:
    return base64.b32encode(secrets.token_bytes(5)).decode().lower()[:SUFFIX_LENGTH]


def _stem(plain: str) -> str:
    # Room for "-xxxx", and a valid DNS label whatever the names: no runs of
    # dashes (`ab--` is reserved for international names), none at the end.
    collapsed = re.sub(r"-{2,}", "-", plain)
    return collapsed[: MAX_LABEL - SUFFIX_LENGTH - 1].rstrip("-")


def candidates(service_name: str, environment_name: str, environment_id: int) -> Iterator[str]:
    """Labels to try in order: the plain one if it is a DNS label, then suffixed ones."""
    plain = plain_label(service_name, environment_name)
    with suppress(InvalidName):  # too long, or a dash where DNS allows none: only suffixed labels
        yield check_label(plain)
    stem = _stem(plain)
    for attempt in range(DERIVED_SUFFIXES):
        yield f"{stem}-{suffix(environment_id, attempt)}"
    for _ in range(RANDOM_TRIES):
        yield f"{stem}-{_random_suffix()}"


def reserved_labels() -> set[str]:
    """Labels under APPS_DOMAIN that are the platform's own hosts (the portal's), never a service's."""
    apps = settings.APPS_DOMAIN
    hosts = {urlsplit(settings.SITE_URL).hostname or "", getattr(settings, "PORTAL_DOMAIN", "")}
    reserved = {host.removesuffix(f".{apps}") for host in hosts if host.endswith(f".{apps}")}
    return {label for label in reserved if "." not in label} | set(settings.RESERVED_SERVICE_ADDRESSES)


def assign(service, hostname_model=None):
    """The service's Hostname: the one it has, or the first free candidate, inserted now.

    `hostname_model` is the migration's historical model when a migration calls this.
    Call inside a transaction: each insert is tried in a savepoint of its own.
    """
    from ingress.models import Hostname

    model = hostname_model or Hostname
    existing = model.objects.filter(service_id=service.pk).first()
    if existing is not None:
        return existing
    environment = service.environment
    reserved = reserved_labels()
    for label in candidates(service.name, environment.name, environment.pk):
        if label in reserved:
            continue
        _free_if_abandoned(model, label)
        try:
            with transaction.atomic():
                return model.objects.create(label=label, service_id=service.pk)
        except IntegrityError:
            # Taken, by another service or (a request racing this one) by this service itself.
            existing = model.objects.filter(service_id=service.pk).first()
            if existing is not None:
                return existing
    raise RuntimeError(
        f"no free address for service {service.pk} after {DERIVED_SUFFIXES + RANDOM_TRIES} tries"
    )


def _free_if_abandoned(model, label: str) -> None:
    # A deleted environment's services no longer serve: their names are free again,
    # so a person who deletes and makes `production` again keeps their addresses.
    model.objects.filter(label=label, service__environment__deleted_at__isnull=False).delete()


def host_of(service) -> str:
    """The service's host name under APPS_DOMAIN, or "" for a service without an address."""
    from ingress.models import Hostname

    try:
        return host_for(service.ingress_hostname.label)
    except Hostname.DoesNotExist:
        return ""
