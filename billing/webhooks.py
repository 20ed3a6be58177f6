"""Stripe webhooks arrive through dj-stripe's endpoint; these receivers act on them.

dj-stripe verifies the signature and stores each event once (a second delivery,
even a concurrent one, finds the stored event and runs no handler). Two things
are ours: the plan moves with the subscription, and dj-stripe's debug-mode
header that lets a request name its own signing secret is never honoured
(dj-stripe issue #1920): with it, anyone could sign events for a portal run with
DEBUG on.
"""

from djstripe.models import Event, WebhookEventTrigger
from djstripe.signals import WEBHOOK_SIGNALS, webhook_pre_validate

SECRET_OVERRIDE_HEADER = "x-djstripe-webhook-secret"  # noqa: S105  (a header name)
SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
)


def drop_secret_override(sender, instance, **kwargs) -> None:
    """Remove the override header before dj-stripe validates, so the endpoint's secret is used."""
    instance.headers = {k: v for k, v in instance.headers.items() if k.lower() != SECRET_OVERRIDE_HEADER}


def on_subscription_event(sender, event, **kwargs) -> None:
    from billing import actions

    actions.apply_subscription(
        event_id=event.id, event_created=event.created, subscription=event.data["object"]
    )


def connect() -> None:
    webhook_pre_validate.connect(
        drop_secret_override, sender=WebhookEventTrigger, dispatch_uid="billing-drop-secret-override"
    )
    for name in SUBSCRIPTION_EVENTS:
        WEBHOOK_SIGNALS[name].connect(on_subscription_event, sender=Event, dispatch_uid=f"billing-{name}")
