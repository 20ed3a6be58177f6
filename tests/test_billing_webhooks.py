"""Stripe webhooks through dj-stripe's endpoint: signed for real, processed once,
moving the plan; forged, stale, tampered and self-signed ones refused."""

import json
import threading
import time

from djstripe.models import Event, WebhookEventTrigger

from billing import webhooks
from billing.models import BillingAccount, PlanChange
from billing.quotas import account_for
from tests.fakes.stripe import sign, subscribe

pytest_plugins = ["tests.fakes.stripe"]


def post(client, path: str, event: dict, *, secret: str, timestamp: int | None = None, body=None, **headers):
    payload = json.dumps(event)
    return client.post(
        path,
        data=payload if body is None else body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload, secret, timestamp),
        **headers,
    )


def test_the_plan_follows_the_subscription_active_past_due_canceled(
    alice, client, fake_stripe, pro_plan, stripe_webhook, mailoutbox, settings,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    settings.BILLING_GRACE_DAYS = 3
    subscription = subscribe(fake_stripe, alice)
    secret, now = fake_stripe.webhook_secret, int(time.time())

    created = fake_stripe.event("customer.subscription.created", subscription, created=now)
    assert post(client, stripe_webhook, created, secret=secret).status_code == 200
    account = account_for(alice)
    assert (account.plan.slug, account.subscription_status) == ("pro", "active")

    fake_stripe.set_status(subscription["id"], "past_due")
    past_due = fake_stripe.event("customer.subscription.updated", subscription, created=now + 1)
    assert post(client, stripe_webhook, past_due, secret=secret).status_code == 200
    account.refresh_from_db()
    assert (account.plan.slug, account.subscription_status, account.grace_until) == ("pro", "past_due", None)

    fake_stripe.set_status(subscription["id"], "canceled")
    canceled = fake_stripe.event("customer.subscription.deleted", subscription, created=now + 2)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, stripe_webhook, canceled, secret=secret).status_code == 200
    account.refresh_from_db()
    assert (account.plan.slug, account.subscription_status) == ("open-source", "canceled")
    assert 2.9 * 86400 < (account.grace_until.timestamp() - time.time()) <= 3 * 86400
    [mail] = mailoutbox
    assert mail.to == ["alice@example.com"]
    assert "Your Pro plan has ended" in mail.subject
    assert "Nothing is deleted" in mail.body

    # The older "active" event, delivered late, does not undo the cancellation.
    stale = {**subscription, "status": "active"}
    late = fake_stripe.event("customer.subscription.updated", stale, created=now)
    assert post(client, stripe_webhook, late, secret=secret).status_code == 200
    account.refresh_from_db()
    assert account.plan.slug == "open-source"
    statuses = [c.subscription_status for c in PlanChange.objects.order_by("id")]
    assert statuses == ["active", "past_due", "canceled"]


def test_an_unpaid_subscription_moves_to_the_default_plan(
    alice, client, fake_stripe, pro_plan, stripe_webhook, settings, django_capture_on_commit_callbacks
):
    settings.BILLING_GRACE_DAYS = 3
    subscription = subscribe(fake_stripe, alice)
    secret, now = fake_stripe.webhook_secret, int(time.time())
    created = fake_stripe.event("customer.subscription.created", subscription, created=now)
    assert post(client, stripe_webhook, created, secret=secret).status_code == 200
    assert account_for(alice).plan.slug == "pro"

    # Stripe's retries are over and the invoice stays open: the subscription is unpaid.
    fake_stripe.set_status(subscription["id"], "unpaid")
    unpaid = fake_stripe.event("customer.subscription.updated", subscription, created=now + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, stripe_webhook, unpaid, secret=secret).status_code == 200
    account = account_for(alice)
    assert (account.plan.slug, account.subscription_status) == ("open-source", "unpaid")
    assert account.grace_until is not None


def refused(client, path, event, **kwargs):
    response = post(client, path, event, **kwargs)
    assert response.status_code == 400
    assert not Event.objects.filter(id=event["id"]).exists()


def test_stale_wrong_secret_and_tampered_webhooks_are_refused(
    alice, client, fake_stripe, pro_plan, stripe_webhook
):
    event = fake_stripe.event("customer.subscription.created", subscribe(fake_stripe, alice))
    secret = fake_stripe.webhook_secret
    refused(client, stripe_webhook, event, secret=secret, timestamp=int(time.time()) - 600)
    refused(client, stripe_webhook, event, secret="whsec_someone_else")
    tampered = json.dumps({**event, "type": "customer.subscription.updated"})
    refused(client, stripe_webhook, event, secret=secret, body=tampered)
    unsigned = client.post(stripe_webhook, data=json.dumps(event), content_type="application/json")
    assert unsigned.status_code == 400
    assert account_for(alice).plan.slug == "open-source"
    assert not WebhookEventTrigger.objects.filter(valid=True).exists()


def test_the_header_that_names_its_own_secret_is_not_honoured_even_in_debug(
    alice, client, fake_stripe, pro_plan, stripe_webhook, settings
):
    settings.DEBUG = True  # dj-stripe honours the header only in debug mode
    forged_secret = "whsec_chosen_by_the_attacker"
    event = fake_stripe.event("customer.subscription.created", subscribe(fake_stripe, alice))
    refused(client, stripe_webhook, event, secret=forged_secret, HTTP_X_DJSTRIPE_WEBHOOK_SECRET=forged_secret)
    assert account_for(alice).plan.slug == "open-source"

    # What the receiver guards against: without it dj-stripe takes the forged event.
    webhooks.webhook_pre_validate.disconnect(
        sender=WebhookEventTrigger, dispatch_uid="billing-drop-secret-override"
    )
    try:
        response = post(
            client, stripe_webhook, event, secret=forged_secret, HTTP_X_DJSTRIPE_WEBHOOK_SECRET=forged_secret
        )
    finally:
        webhooks.connect()
    assert response.status_code == 200


def test_a_webhook_sent_twice_at_the_same_time_is_processed_once(
    alice, fake_stripe, pro_plan, stripe_webhook, live_server, transactional_db
):
    fake_stripe.webhook_url = f"{live_server.url}{stripe_webhook}"
    event = fake_stripe.event("customer.subscription.created", subscribe(fake_stripe, alice))
    start = threading.Barrier(2)
    statuses = []

    def send() -> None:
        start.wait()
        statuses.append(fake_stripe.deliver(event).status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200, 200]
    assert fake_stripe.deliver(event).status_code == 200  # and once more, later

    assert Event.objects.filter(id=event["id"]).count() == 1
    assert PlanChange.objects.filter(stripe_event_id=event["id"]).count() == 1
    assert BillingAccount.objects.get(user=alice).plan.slug == "pro"
    assert WebhookEventTrigger.objects.filter(valid=True).count() == 3
