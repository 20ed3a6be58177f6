"""What a service's address is, and which names a user may claim as custom domains."""

import ipaddress
import re
from urllib.parse import urlsplit

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
    """The domain in canonical form, or InvalidName saying what is wrong with it."""
    name = raw.strip().lower().removesuffix(".")
    shown = name or raw.strip()
    if not name:
        raise InvalidName("Enter a domain, like www.example.com.")
    if "://" in name or "/" in name or ":" in name:
        raise InvalidName(f"{shown} is not a domain: enter the name alone, like www.example.com.")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise InvalidName(f"{shown} is an IP address; enter a domain name.")
    if "*" in name:
        raise InvalidName(f"{shown}: wildcard domains are not supported; add each name.")
    _refuse_platform_names(name, shown)
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidName(
            f"{shown} is not a valid domain: use two or more parts separated by dots, each of "
            "letters, digits and dashes (not at either end)."
        )
    if labels[-1].isdigit():
        raise InvalidName(f"{shown} is not a valid domain: it has no top-level domain.")
    return name


def _refuse_platform_names(name: str, shown: str) -> None:
    apps = settings.APPS_DOMAIN
    site = urlsplit(settings.SITE_URL).hostname or ""
    if name in {apps, site, "localhost"}:
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
    """The service's stable URL, or "" before its first deployment claimed the address."""
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
