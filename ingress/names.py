"""What a service's address is, and which names a user may claim as custom domains."""

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

import idna
from django.conf import settings

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class InvalidName(ValueError):
    """A name that cannot be used, in words for the person who asked."""


def host_for(label: str) -> str:
    return f"{label}.{settings.APPS_DOMAIN}"


def check_label(label: str) -> str:
    # Service and environment names may end in a dash, which DNS does not allow
    # at the end of a label; "ab--" is reserved for encoded international names.
    if not _LABEL.match(label) or label[2:4] == "--":
        raise InvalidName(
            f"{label} cannot be a web address: a service and environment name together must be at "
            "most 63 letters, digits and dashes, and not end in a dash."
        )
    return label


def clean_domain(raw: str) -> str:
    """The domain in canonical form (lower case, no final dot, international names in their
    xn-- form), or InvalidName saying what is wrong with it.

    One name has one spelling here, so `Example.COM.`, `bücher.example` and
    `xn--bcher-kva.example` cannot be claimed twice under different spellings.
    """
    raw = raw.strip()
    if not raw:
        raise InvalidName("Enter a domain, like www.example.com.")
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zs", "Zl", "Zp"} for ch in raw):
        raise InvalidName(f"{shown!r} is not a domain: it holds spaces or invisible characters.")
    if "://" in raw or "/" in raw or ":" in raw:
        raise InvalidName(f"{shown} is not a domain: enter the name alone, like www.example.com.")
    if "*" in raw:
        raise InvalidName(f"{shown}: wildcard domains are not supported; add each name.")
    name = _ascii(raw, shown).lower().removesuffix(".")
    shown = name if len(name) <= 80 else shown
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise InvalidName(f"{shown} is an IP address; enter a domain name.")
    _refuse_platform_names(name, shown)
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidName(
            f"{shown} is not a valid domain: use two or more parts separated by dots, each of "
            "letters, digits and dashes (not at either end), at most 253 characters in all."
        )
    if labels[-1].isdigit():
        raise InvalidName(f"{shown} is not a valid domain: it has no top-level domain.")
    return name


def _ascii(raw: str, shown: str) -> str:
    """International names become their xn-- form; an xn-- label must be one (IDNA 2008, UTS 46)."""
    try:
        if not raw.isascii():
            return idna.encode(raw, uts46=True).decode("ascii")
        if "xn--" in raw.lower():
            trimmed = raw.lower().removesuffix(".")
            if idna.encode(idna.decode(trimmed), uts46=True).decode("ascii") != trimmed:
                raise idna.IDNAError("not in canonical form")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidName(
            f"{shown} is not a valid domain: it has letters or symbols a domain name cannot hold."
        ) from None
    return raw


def _refuse_platform_names(name: str, shown: str) -> None:
    apps = settings.APPS_DOMAIN
    site = urlsplit(settings.SITE_URL).hostname or ""
    if name in {apps, site, settings.PORTAL_DOMAIN, "localhost"}:
        raise InvalidName(f"{shown} is the platform's own address.")
    if not name.endswith(f".{apps}"):
        return
    # A laptop's APPS_DOMAIN is `localhost`, whose names need no DNS: there only
    # the shape of a service address (one label) is the platform's.
    if apps == "localhost" and name.count(".") > 1:
        return
    raise InvalidName(
        f"{shown} is under {apps}, where the platform names services; every service already has "
        "its own address there."
    )


def service_url(service) -> str:
    """The service's stable URL, or "" for a service without an address (none since they are given
    as a service is made)."""
    from ingress.models import Hostname

    try:
        label = service.ingress_hostname.label
    except Hostname.DoesNotExist:
        return ""
    port = settings.INGRESS_HTTP_PORT
    return f"http://{host_for(label)}{'' if port == 80 else f':{port}'}/"


def domain_url(name: str) -> str:
    port = settings.INGRESS_HTTPS_PORT
    return f"https://{name}{'' if port == 443 else f':{port}'}/"


def challenge_name(domain: str) -> str:
    """Where the domain's owner publishes the TXT record that proves it is theirs."""
    return f"{settings.DOMAIN_CHALLENGE_LABEL}.{domain}"


def challenge_value(token: str) -> str:
    return f"{settings.DOMAIN_VERIFY_PREFIX}{token}"


def pointing_record(domain) -> tuple[str, str]:
    """The record that points the domain here: a CNAME to the service's address, or an A record
    for an apex (which cannot have a CNAME) and where service addresses are not in public DNS."""
    from ingress.models import Hostname

    label = Hostname.objects.filter(service_id=domain.service_id).values_list("label", flat=True).first()
    if domain.name.count(".") >= 2 and label is not None and settings.APPS_DOMAIN != "localhost":
        return "CNAME", host_for(label)
    return "A", settings.INGRESS_PUBLIC_IP
