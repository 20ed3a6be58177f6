"""A local stand-in for Stripe's API, answering with Stripe's documented JSON, and
a sender of webhooks signed with Stripe's real scheme.

It serves what the portal and dj-stripe ask for: the account, customers,
prices, products, subscriptions, Checkout sessions and customer-portal
sessions. A Checkout session's `url` is a page of the fake itself: visiting it
"pays", creates the subscription, delivers the signed
`customer.subscription.created` webhook to the portal, and redirects to the
session's success URL, as Stripe does.
"""

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from tests.fakes.server import LocalServer

API_VERSION = "2026-05-27.dahlia"
SECRET_KEY = "sk_test_FakeM3oKey0123456789abcdef"
WEBHOOK_SECRET = "whsec_fake_m3o_endpoint"


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header for a payload, computed as Stripe documents it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, str]


class FakeStripe(LocalServer):
    def __init__(self) -> None:
        super().__init__(_Handler, "fake-stripe")
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.objects: dict[str, dict] = {}
        self.requests: list[Recorded] = []
        self.webhook_url = ""
        self.webhook_secret = WEBHOOK_SECRET
        self.deliveries: list[requests.Response] = []

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(8)}"

    # --- objects in Stripe's documented shapes -----------------------------------

    def add_price(self, price_id: str, name: str, amount: int) -> dict:
        now = int(time.time())
        product = {
            "id": self._id("prod"), "object": "product", "active": True, "created": now,
            "default_price": price_id, "description": None, "images": [], "livemode": False,
            "metadata": {}, "name": name, "package_dimensions": None, "shippable": None,
            "statement_descriptor": None, "tax_code": None, "type": "service", "unit_label": None,
            "updated": now, "url": None, "marketing_features": [],
        }  # fmt: skip
        price = {
            "id": price_id, "object": "price", "active": True, "billing_scheme": "per_unit",
            "created": now, "currency": "usd", "custom_unit_amount": None, "livemode": False,
            "lookup_key": None, "metadata": {}, "nickname": name, "product": product["id"],
            "recurring": {"interval": "month", "interval_count": 1, "meter": None,
                          "trial_period_days": None, "usage_type": "licensed"},
            "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None,
            "type": "recurring", "unit_amount": amount, "unit_amount_decimal": str(amount),
        }  # fmt: skip
        self.objects[product["id"]] = product
        self.objects[price_id] = price
        return price

    def account(self) -> dict:
        return {
            "id": "acct_fakem3o", "object": "account", "type": "standard", "country": "US",
            "email": "billing@example.com", "default_currency": "usd", "charges_enabled": True,
            "payouts_enabled": True, "details_submitted": True, "created": 1700000000,
            "business_profile": {"name": "M3O test", "url": None, "support_email": None},
            "settings": {"dashboard": {"display_name": "M3O test", "timezone": "Etc/UTC"}},
            "capabilities": {}, "metadata": {}, "tos_acceptance": {}, "requirements": {},
        }  # fmt: skip

    def create_customer(self, form: dict[str, str]) -> dict:
        customer = {
            "id": self._id("cus"), "object": "customer", "address": None, "balance": 0,
            "created": int(time.time()), "currency": None, "default_source": None, "delinquent": False,
            "description": None, "discount": None, "email": form.get("email"),
            "invoice_prefix": secrets.token_hex(4).upper(),
            "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                 "rendering_options": None},
            "livemode": False, "metadata": _nested(form, "metadata"), "name": None, "phone": None,
            "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": None,
        }  # fmt: skip
        self.objects[customer["id"]] = customer
        return customer

    def create_subscription(self, customer_id: str, price_id: str, status: str = "active") -> dict:
        now = int(time.time())
        subscription_id = self._id("sub")
        item = {
            "id": self._id("si"), "object": "subscription_item", "created": now,
            "current_period_start": now, "current_period_end": now + 30 * 86400, "discounts": [],
            "metadata": {}, "price": self.objects[price_id], "quantity": 1,
            "subscription": subscription_id, "tax_rates": [],
        }  # fmt: skip
        subscription = {
            "id": subscription_id, "object": "subscription", "application": None,
            "application_fee_percent": None, "automatic_tax": {"enabled": False, "liability": None},
            "billing_cycle_anchor": now, "billing_thresholds": None, "cancel_at": None,
            "cancel_at_period_end": False, "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically", "created": now, "currency": "usd",
            "current_period_start": now, "current_period_end": now + 30 * 86400,
            "customer": customer_id, "days_until_due": None, "default_payment_method": None,
            "default_source": None, "default_tax_rates": [], "description": None, "discount": None,
            "discounts": [], "ended_at": None,
            "items": {"object": "list", "data": [item], "has_more": False, "total_count": 1,
                      "url": f"/v1/subscription_items?subscription={subscription_id}"},
            "latest_invoice": None, "livemode": False, "metadata": {},
            "next_pending_invoice_item_invoice": None, "on_behalf_of": None, "pause_collection": None,
            "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                                 "save_default_payment_method": "off"},
            "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
            "schedule": None, "start_date": now, "status": status, "test_clock": None,
            "transfer_data": None, "trial_end": None, "trial_start": None,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        }  # fmt: skip
        self.objects[subscription_id] = subscription
        return subscription

    def set_status(self, subscription_id: str, status: str) -> dict:
        subscription = self.objects[subscription_id]
        subscription["status"] = status
        if status == "canceled":
            subscription["canceled_at"] = subscription["ended_at"] = int(time.time())
        return subscription

    def create_checkout_session(self, form: dict[str, str]) -> dict:
        session_id = self._id("cs_test")
        session = {
            "id": session_id, "object": "checkout.session", "after_expiration": None,
            "allow_promotion_codes": None, "amount_subtotal": None, "amount_total": None,
            "billing_address_collection": None, "cancel_url": form.get("cancel_url"),
            "client_reference_id": form.get("client_reference_id"), "created": int(time.time()),
            "currency": "usd", "customer": form.get("customer"), "customer_email": None,
            "expires_at": int(time.time()) + 86400, "livemode": False, "locale": None,
            "metadata": _nested(form, "metadata"), "mode": form.get("mode"), "payment_intent": None,
            "payment_method_types": ["card"], "payment_status": "unpaid", "status": "open",
            "subscription": None, "success_url": form.get("success_url"),
            "url": f"{self.url}/pay/{session_id}",
            "line_items_price": form.get("line_items[0][price]"),
        }  # fmt: skip
        self.objects[session_id] = session
        return session

    def create_portal_session(self, form: dict[str, str]) -> dict:
        session_id = self._id("bps")
        session = {
            "id": session_id, "object": "billing_portal.session", "configuration": "bpc_fake",
            "created": int(time.time()), "customer": form.get("customer"), "flow": None,
            "livemode": False, "locale": None, "on_behalf_of": None,
            "return_url": form.get("return_url"), "url": f"{self.url}/portal/{session_id}",
        }  # fmt: skip
        self.objects[session_id] = session
        return session

    # --- webhooks ------------------------------------------------------------------

    def event(self, event_type: str, obj: dict, created: int | None = None) -> dict:
        return {
            "id": self._id("evt"), "object": "event", "api_version": API_VERSION,
            "created": created or int(time.time()), "data": {"object": json.loads(json.dumps(obj))},
            "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": event_type,
        }  # fmt: skip

    def deliver(
        self, event: dict, *, secret: str | None = None, timestamp: int | None = None,
        body: str | None = None, headers: dict[str, str] | None = None,
    ) -> requests.Response:  # fmt: skip
        """POST the event to the portal's webhook URL, signed as Stripe signs it."""
        payload = json.dumps(event) if body is None else body
        signed = sign(json.dumps(event), secret or self.webhook_secret, timestamp)
        response = requests.post(
            self.webhook_url,
            data=payload.encode(),
            headers={"Content-Type": "application/json", "Stripe-Signature": signed, **(headers or {})},
            timeout=30,
        )
        self.deliveries.append(response)
        return response

    def pay(self, session_id: str) -> dict:
        """What paying on the Checkout page does: a subscription, and its webhook."""
        session = self.objects[session_id]
        subscription = self.create_subscription(session["customer"], session["line_items_price"])
        subscription["metadata"] = {"m3o_checkout_session": session_id}
        session.update(status="complete", payment_status="paid", subscription=subscription["id"])
        if self.webhook_url:
            self.deliver(self.event("customer.subscription.created", subscription))
        return session


def _nested(form: dict[str, str], name: str) -> dict[str, str]:
    prefix = f"{name}["
    return {k[len(prefix) : -1]: v for k, v in form.items() if k.startswith(prefix) and k.endswith("]")}


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    @property
    def fake(self) -> FakeStripe:
        return self.server.fake

    def log_message(self, format, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        headers = {"Content-Type": "application/json", "Request-Id": f"req_{secrets.token_hex(6)}"}
        self._send(status, json.dumps(data).encode(), headers)

    def _missing(self, what: str) -> None:
        self._json(404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                   "message": f"No such {what}", "param": "id"}})  # fmt: skip

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)) if length else {}
        form.update(parse_qsl(url.query))
        with self.fake.lock:
            self.fake.requests.append(Recorded(method, self.path, form))
        parts = [p for p in url.path.split("/") if p]
        if parts[:1] == ["pay"] and len(parts) == 2 and parts[1] in self.fake.objects:
            session = self.fake.pay(parts[1])
            target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
            return self._send(303, b"", {"Location": target})
        if parts[:1] == ["portal"]:
            return self._send(200, b"<h1>Stripe customer portal (fake)</h1>", {"Content-Type": "text/html"})
        if parts[:1] != ["v1"]:
            return self._missing("page")
        if not self.headers.get("Authorization", "").endswith(SECRET_KEY):
            return self._json(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}})
        return self._api(method, parts[1:], form)

    def _api(self, method: str, parts: list[str], form: dict[str, str]) -> None:
        fake = self.fake
        if parts == ["account"]:
            return self._json(200, fake.account())
        if method == "POST" and parts == ["customers"]:
            return self._json(200, fake.create_customer(form))
        if method == "POST" and parts == ["checkout", "sessions"]:
            return self._json(200, fake.create_checkout_session(form))
        if method == "POST" and parts == ["billing_portal", "sessions"]:
            return self._json(200, fake.create_portal_session(form))
        if method == "GET" and len(parts) == 3 and parts[0] == "products" and parts[2] == "features":
            url = f"/v1/{'/'.join(parts)}"
            return self._json(200, {"object": "list", "data": [], "has_more": False, "url": url})
        if method == "GET" and parts and parts[-1] in fake.objects:
            return self._json(200, fake.objects[parts[-1]])
        return self._missing("/".join(parts))


@pytest.fixture(scope="session")
def stripe_server():
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_stripe(stripe_server, settings):
    """A clean fake Stripe, with this installation's settings pointing at it."""
    stripe_server.reset()
    settings.STRIPE_SECRET_KEY = settings.STRIPE_TEST_SECRET_KEY = SECRET_KEY
    settings.STRIPE_API_BASE = stripe_server.url
    yield stripe_server
    stripe_server.reset()


@pytest.fixture
def pro_plan(fake_stripe, db):
    """The seeded Pro plan, sold at a price the fake knows."""
    from billing import seed
    from billing.models import Plan

    seed.ensure(Plan)  # a transactional test before this one may have flushed them
    fake_stripe.add_price("price_pro", "Pro", 2500)
    plan = Plan.objects.get(slug="pro")
    plan.stripe_price_id = "price_pro"
    plan.save()
    return plan


@pytest.fixture
def stripe_webhook(fake_stripe, db):
    """The portal's webhook endpoint as dj-stripe keeps it; returns its path."""
    from django.urls import reverse
    from djstripe.models import WebhookEndpoint

    endpoint = WebhookEndpoint.objects.create(
        id="we_fakem3o",
        livemode=False,
        api_version=API_VERSION,
        enabled_events=["*"],
        secret=WEBHOOK_SECRET,
        status="enabled",
        url="http://127.0.0.1/stripe/webhook/",
    )
    return reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint.djstripe_uuid})


def subscribe(fake: FakeStripe, user, plan_price: str = "price_pro", status: str = "active") -> dict:
    """A Stripe customer for the user and a subscription, as after Checkout (no webhook yet)."""
    from billing.quotas import account_for

    account = account_for(user)
    if not account.stripe_customer_id:
        account.stripe_customer_id = fake.create_customer({"email": user.email})["id"]
        account.save()
    return fake.create_subscription(account.stripe_customer_id, plan_price, status)
