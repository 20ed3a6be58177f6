"""The one place that calls Stripe's API for us: customers, Checkout, the customer portal.

The base URL is a setting (STRIPE_API_BASE), so tests run the real `stripe`
client against a local stand-in. Every call has a timeout and at most one
retry; failures become BillingError in words for people.
"""

import logging
from dataclasses import dataclass

import stripe
from django.conf import settings

log = logging.getLogger(__name__)


class BillingError(Exception):
    """Stripe could not do what was asked; the message is for the person asking."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


def configure() -> None:
    """Point the `stripe` module (which dj-stripe calls) at STRIPE_API_BASE, with our timeout."""
    stripe.api_base = settings.STRIPE_API_BASE
    stripe.default_http_client = stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT)
    stripe.max_network_retries = 1


def _client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise BillingError("Payments are not set up on this installation; ask the operator.")
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT),
        max_network_retries=1,
    )


def _call(what: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except stripe.StripeError as exc:
        log.warning("Stripe refused %s: %s", what, type(exc).__name__)
        raise BillingError(f"Stripe could not {what}; try again in a moment.") from None


def create_customer(email: str, user_id: int) -> str:
    customer = _call(
        "set up your billing",
        _client().v1.customers.create,
        params={"email": email, "metadata": {"djstripe_subscriber": str(user_id)}},
    )
    return customer.id


def create_checkout_session(
    *, customer_id: str, price_id: str, user_id: int, plan_slug: str, success_url: str, cancel_url: str
) -> CheckoutSession:
    session = _call(
        "start the payment",
        _client().v1.checkout.sessions.create,
        params={
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": str(user_id),
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "subscription_data": {"metadata": {"m3o_user": str(user_id), "m3o_plan": plan_slug}},
        },
    )
    if not session.url:
        raise BillingError("Stripe did not return a payment page; try again in a moment.")
    return CheckoutSession(id=session.id, url=session.url)


def create_portal_session(customer_id: str, return_url: str) -> str:
    session = _call(
        "open the billing portal",
        _client().v1.billing_portal.sessions.create,
        params={"customer": customer_id, "return_url": return_url},
    )
    return session.url
