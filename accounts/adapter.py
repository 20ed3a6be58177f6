"""allauth's mail in the product's own name, with links to SITE_URL.

Without django.contrib.sites allauth names the site after the request's host
("Hello from 127.0.0.1:8000!") and builds links from it; behind a proxy or on
a laptop that is not the address people should use.
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


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        site = Site(name=PRODUCT_NAME, domain=urlsplit(settings.SITE_URL).netloc)
        super().send_mail(template_prefix, email, {**context, "current_site": site, "site_url": site_url()})

    def get_email_confirmation_url(self, request, emailconfirmation) -> str:
        return self._on_site(super().get_email_confirmation_url(request, emailconfirmation))

    def get_reset_password_from_key_url(self, key: str) -> str:
        return self._on_site(super().get_reset_password_from_key_url(key))

    @staticmethod
    def _on_site(url: str) -> str:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return site_url() + path
