"""Every change billing makes goes through here: Checkout, the portal, plan moves
from Stripe's webhooks, and stopping what a lapsed plan no longer covers."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import stripe_api
from billing.models import BillingAccount, LicenseCheck, Plan, PlanChange, ServiceStop
from billing.quotas import account_for, default_plan, upgrade_url
from billing.usage import services_of
from environments.audit import record

log = logging.getLogger(__name__)

KEEPS_PLAN = {"active", "trialing", "past_due"}
ENDS_PLAN = {"canceled", "unpaid", "incomplete_expired", "paused"}


def _ensure_customer(user) -> BillingAccount:
    account = account_for(user)
    if not account.stripe_customer_id:
        customer_id = stripe_api.create_customer(user.email, user.pk)
        # A second click racing this one keeps the first customer.
        BillingAccount.objects.filter(pk=account.pk, stripe_customer_id="").update(
            stripe_customer_id=customer_id
        )
        account.refresh_from_db()
    return account


def start_checkout(user, plan: Plan, *, success_url: str, cancel_url: str) -> str:
    """The Stripe Checkout page where the user pays for the plan."""
    if not plan.is_paid:
        raise stripe_api.BillingError(f"The {plan.name} plan is not sold through Checkout.")
    account = _ensure_customer(user)
    session = stripe_api.create_checkout_session(
        customer_id=account.stripe_customer_id,
        price_id=plan.stripe_price_id,
        user_id=user.pk,
        plan_slug=plan.slug,
        success_url=success_url,
        cancel_url=cancel_url,
    )
    return session.url


def open_portal(user, *, return_url: str) -> str:
    account = account_for(user)
    if not account.stripe_customer_id:
        raise stripe_api.BillingError("There is no billing to manage yet: choose a plan first.")
    return stripe_api.create_portal_session(account.stripe_customer_id, return_url)


def _customer_id(subscription: dict) -> str:
    customer = subscription.get("customer")
    return customer.get("id", "") if isinstance(customer, dict) else str(customer or "")


def _price_id(subscription: dict) -> str:
    items = (subscription.get("items") or {}).get("data") or []
    price = (items[0].get("price") or {}) if items else {}
    return price.get("id", "") if isinstance(price, dict) else str(price)


@transaction.atomic
def apply_subscription(*, event_id: str, event_created: datetime, subscription: dict) -> PlanChange | None:
    """Move the account's plan as its subscription becomes active, past due or canceled."""
    account = (
        BillingAccount.objects.select_for_update()
        .select_related("plan", "user")
        .filter(stripe_customer_id=_customer_id(subscription))
        .first()
    )
    if account is None:
        log.warning("Stripe event %s is for a customer we do not know", event_id)
        return None
    if account.last_event_at and event_created < account.last_event_at:
        log.info("Stripe event %s is older than the last one applied; ignored", event_id)
        return None
    status, subscription_id = subscription.get("status", ""), subscription.get("id", "")
    old_plan, new_plan = account.plan, account.plan
    price_id = _price_id(subscription)
    paid_plan = Plan.objects.filter(stripe_price_id=price_id).first() if price_id else None
    if status in KEEPS_PLAN and paid_plan is not None:
        new_plan, account.grace_until = paid_plan, None
        account.stripe_subscription_id = subscription_id
    elif status in ENDS_PLAN and subscription_id in (account.stripe_subscription_id, ""):
        new_plan = default_plan()
        if old_plan.is_paid and old_plan != new_plan:
            account.grace_until = timezone.now() + timedelta(days=settings.BILLING_GRACE_DAYS)
    elif subscription_id != account.stripe_subscription_id:
        # An old subscription's news, or an incomplete new one: the plan stays.
        return None
    try:
        with transaction.atomic():
            change = PlanChange.objects.create(
                account=account,
                from_plan=old_plan,
                to_plan=new_plan,
                subscription_status=status,
                stripe_event_id=event_id,
                reason=f"subscription {subscription_id} is {status}",
            )
    except IntegrityError:
        return None
    account.plan, account.subscription_status, account.last_event_at = new_plan, status, event_created
    account.save()
    record(
        None, None, "plan", f"{old_plan.name} to {new_plan.name}: {change.reason}", account=account.user,
        changes={"plan": [old_plan.name, new_plan.name]},
    )  # fmt: skip
    if account.grace_until and new_plan != old_plan:
        grace_until = account.grace_until
        transaction.on_commit(lambda: _mail_grace_started(account, old_plan, grace_until))
    return change


def covered(plan: Plan, service) -> bool:
    """Whether the plan lets this service keep running."""
    check = LicenseCheck.objects.filter(service=service).first()
    private = service.is_private or (check is not None and check.private)
    if plan.open_source_only:
        return check is not None and check.qualifies and not private
    return plan.private_repositories or not private


def stop_services_after_grace(now: datetime | None = None) -> list[int]:
    """Stop what a lapsed account's plan no longer covers, once its grace period is over.

    Each account is claimed with a conditional UPDATE, so two sweeps never stop
    or mail twice. Only instances are removed: services, deployments, images and
    settings stay, and deploying on a paid plan brings them back.
    """
    from deployments import controls
    from deployments.models import Deployment

    now = now or timezone.now()
    stopped = []
    for account in BillingAccount.objects.filter(grace_until__lte=now).select_related("plan", "user"):
        if not BillingAccount.objects.filter(pk=account.pk, grace_until=account.grace_until).update(
            grace_until=None
        ):
            continue
        names = []
        for service in services_of(account.user).select_related("live_deployment", "environment"):
            live = service.live_deployment
            if live is None or live.state != Deployment.State.RUNNING or covered(account.plan, service):
                continue
            reason = f"the {account.plan.name} plan does not cover it and the grace period has ended"
            _, created = ServiceStop.objects.get_or_create(
                service=service, deployment_id=live.pk, defaults={"reason": reason}
            )
            if created:
                controls.stop(service, None, reason)
                stopped.append(service.pk)
                names.append(f"{service.name} ({service.environment.name})")
        if names:
            _mail_stopped(account, names)
    return stopped


def _mail_grace_started(account: BillingAccount, old_plan: Plan, until: datetime) -> None:
    send_mail(
        f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}Your {old_plan.name} plan has ended",
        (
            f"Your subscription to the {old_plan.name} plan has ended; you are on the "
            f"{account.plan.name} plan now.\n\nServices it does not cover (private repositories, "
            f"or ones without an OSI-approved license) keep running until {until:%Y-%m-%d %H:%M} UTC, "
            f"then stop. Nothing is deleted. Choose a plan to keep them running: {upgrade_url()}\n"
        ),
        None,
        [account.user.email],
    )


def _mail_stopped(account: BillingAccount, names: list[str]) -> None:
    send_mail(
        f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}Services stopped: the grace period has ended",
        (
            f"The grace period after your paid plan ended is over, and the {account.plan.name} plan "
            "does not cover these services, so they were stopped:\n\n"
            + "".join(f"  - {name}\n" for name in names)
            + f"\nNothing was deleted. Choose a plan and deploy them again: {upgrade_url()}\n"
        ),
        None,
        [account.user.email],
    )
