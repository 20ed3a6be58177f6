"""The one question the pipeline asks billing: may this service deploy, with what limits?

`check_deploy` answers it after the checkout and before the build: it runs the
open-source check again (a repository can go private or change license), then
holds the owner's plan against each limit. Over a limit it raises QuotaExceeded,
a UserError, so the deployment fails at once with a message that names the limit
and links to the plan page.
"""

from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from billing import opensource, seed, usage
from billing.models import BillingAccount, LicenseCheck, Plan
from deployments.errors import UserError
from deployments.runtime import Limits


class QuotaExceeded(UserError):
    """The plan does not allow this deployment; the message says which limit and where to upgrade."""


def upgrade_url() -> str:
    return f"{settings.SITE_URL}{reverse('billing:plan')}"


def default_plan() -> Plan:
    plan = Plan.objects.filter(is_default=True).first()
    if plan is None:
        # Everyone must be on some plan: bring back the seeded ones if they are gone.
        seed.ensure(Plan)
        plan = Plan.objects.get(is_default=True)
    return plan


def account_for(user) -> BillingAccount:
    account = BillingAccount.objects.filter(user=user).select_related("plan").first()
    if account is not None:
        return account
    with transaction.atomic():
        account, _ = BillingAccount.objects.select_related("plan").get_or_create(
            user=user, defaults={"plan": default_plan()}
        )
    return account


def plan_for(service) -> Plan:
    return account_for(service.environment.owner).plan


def enforced() -> bool:
    """Whether plans hold: once the operator sells one (sets a Stripe price in the admin).

    An installation that sells nothing (someone hosting it for themselves, and
    the seeded plans before a price is set) runs without limits: refusing
    deployments there would leave nobody a way to lift them.
    """
    return Plan.objects.exclude(stripe_price_id="").exists()


def limits_for(service) -> Limits:
    """The container limits of the owner's plan; the operator's defaults when plans do not hold."""
    if not enforced():
        return Limits(
            memory_mb=settings.INSTANCE_MEMORY_MB, cpus=settings.INSTANCE_CPUS, pids=settings.INSTANCE_PIDS
        )
    plan = plan_for(service)
    return Limits(memory_mb=plan.memory_mb, cpus=plan.cpus_float, pids=settings.INSTANCE_PIDS)


def check_cron_jobs(service, used: int) -> None:
    """Refuse a new cron job past the plan's number, counted over all the owner's services."""
    if not enforced():
        return
    plan = plan_for(service)
    if used >= plan.max_cron_jobs:
        jobs = f"{plan.max_cron_jobs} cron job{'s' if plan.max_cron_jobs != 1 else ''}"
        raise QuotaExceeded(
            f"The {plan.name} plan allows {jobs} "
            f"and {used} {'is' if used == 1 else 'are'} set; remove one, or upgrade at {upgrade_url()}."
        )


def check_deploy(service, deployment, tree: Path, log: Callable[[str], None]) -> Limits:
    """Record the open-source verdict, then refuse when over any limit of the plan."""
    plan = plan_for(service)
    verdict = opensource.check(service, tree)
    LicenseCheck.objects.update_or_create(
        service=service,
        defaults={
            "deployment_id": deployment.pk,
            "qualifies": verdict.qualifies,
            "reason": verdict.reason,
            "spdx_id": verdict.spdx_id,
            "private": verdict.private,
        },
    )
    word = "qualifies" if verdict.qualifies else "does not qualify"
    if not enforced():
        log(f"==> Open-source free tier: {word} ({verdict.reason}); no plan is sold here, so no limits")
        return limits_for(service)
    log(f"==> Open-source free tier: {word} ({verdict.reason}); plan {plan.name}")
    _refuse(usage.refusals(plan, service, deployment, verdict))
    return limits_for(service)


def check_rerun(service, earlier) -> None:
    """Start, rollback and promote ask what a build asks, of an image already built.

    `service` is where the image is to run (for a promote, the service in the
    target environment, under that environment's owner's plan); `earlier` the
    deployment that built it. Nothing is built, so build minutes and concurrent
    builds do not count; the open-source rule holds against the verdict recorded
    on the image's repository at its last check, which a promote carries along.
    Refuses with the message a build would get.
    """
    verdict = _recorded_verdict(earlier.service)
    if service.pk != earlier.service_id:
        LicenseCheck.objects.update_or_create(
            service=service,
            defaults={
                "deployment_id": earlier.pk,
                "qualifies": verdict.qualifies,
                "reason": verdict.reason,
                "spdx_id": verdict.spdx_id,
                "private": verdict.private,
            },
        )
    if enforced():
        _refuse(usage.refusals(plan_for(service), service, None, verdict, building=False))


def _recorded_verdict(service) -> opensource.Verdict:
    check = LicenseCheck.objects.filter(service=service).first()
    if service.is_private or (check is not None and check.private):
        return opensource.Verdict(False, "repository is private", private=True)
    if check is None:  # built before verdicts were kept: there is none to hold
        return opensource.Verdict(False, "its license was never checked")
    return opensource.Verdict(check.qualifies, check.reason, check.spdx_id)


def _refuse(refusals) -> None:
    for refusal in refusals:
        raise QuotaExceeded(f"{refusal} Upgrade at {upgrade_url()}")
