"""allauth's mail in the product's own name, with links to SITE_URL.

Without django.contrib.sites allauth names the site after the request's host
("Hello from 127.0.0.1:8000!") and builds every link in its mail from it: the
confirmation link, the password reset link, the sign-up link of the "unknown
account" mail. Behind a proxy or on a laptop that is not the address people
should use, and a request with a forged Host header would get a mail whose link
leads to the forger's site. So every link a mail carries is put on SITE_URL.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings

PRODUCT_NAME = "M3O"


@dataclass(frozen=True)
class Site:
    name: str
    domain: str


def site_url() -> str:
    return settings.SITE_URL.rstrip("/")


def on_site(url: str) -> str:
    """The same path (and query) at SITE_URL, whatever host the link was built from."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return site_url() + path


def _is_link(value) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # Every absolute URL allauth hands a mail was built from the request's host:
        # activate_url, password_reset_url, signup_url, and whatever a new version adds.
        links = {key: on_site(value) for key, value in context.items() if _is_link(value)}
        site = Site(name=PRODUCT_NAME, domain=urlsplit(settings.SITE_URL).netloc)
        super().send_mail(
            template_prefix, email, {**context, **links, "current_site": site, "site_url": site_url()}
        )
