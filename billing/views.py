"""The plan page, Checkout and the customer portal: thin views over billing.actions."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from billing import actions, usage
from billing.models import Plan
from billing.quotas import account_for, enforced
from billing.stripe_api import BillingError


@dataclass(frozen=True)
class Limit:
    """One row of the plan page: what is used, what the plan allows, whether a plan allows more."""

    name: str
    used: str
    allowed: str
    more_elsewhere: bool
    over: bool = False


def _limits(account, plans, used: dict) -> list[Limit]:
    plan = account.plan

    def row(name, field, used_value=None, shown=None):
        allowed = getattr(plan, field)
        more = any(p.is_paid and getattr(p, field) > allowed for p in plans)
        over = used_value is not None and used_value > allowed
        return Limit(name, "" if used_value is None else str(used_value), shown or str(allowed), more, over)

    return [
        row("Services", "max_services", used["services"]),
        row("Environments", "max_environments", used["environments"]),
        row("Builds at a time", "max_concurrent_builds", used["builds"]),
        row("Build minutes this month", "build_minutes_per_month", used["minutes"]),
        row("Memory per instance", "memory_mb", shown=f"{plan.memory_mb} MiB"),
        row("CPUs per instance", "cpus", shown=f"{plan.cpus_float:g}"),
        row("Private repositories", "private_repositories", shown=_yes(plan.private_repositories)),
    ]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


@login_required
@require_GET
def plan(request):
    account = account_for(request.user)
    owner = request.user
    plans = list(Plan.objects.all())
    used = {
        "services": usage.services_of(owner).count(),
        "environments": usage.environments_of(owner).count(),
        "builds": usage.concurrent_builds(owner),
        "minutes": round(usage.build_minutes(owner)),
    }
    context = {
        "account": account,
        "plans": plans,
        "usage": used,
        # Plans hold only once one is sold: until then the page says so and shows no limits.
        "billing_on": enforced(),
        "limits": _limits(account, plans, used),
    }
    return render(request, "billing/plan.html", context)


@login_required
@require_POST
def checkout(request, slug: str):
    chosen = get_object_or_404(Plan, slug=slug)
    here = f"{settings.SITE_URL}{reverse('billing:plan')}"
    try:
        url = actions.start_checkout(
            request.user,
            chosen,
            success_url=f"{settings.SITE_URL}{reverse('billing:checkout-done')}?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=here,
        )
    except BillingError as exc:
        messages.error(request, str(exc))
        return redirect("billing:plan")
    return HttpResponseRedirect(url)


@login_required
@require_GET
def checkout_done(request):
    messages.success(request, "Thank you. Your plan changes as soon as Stripe confirms the payment.")
    return redirect("billing:plan")


@login_required
@require_POST
def portal(request):
    try:
        url = actions.open_portal(request.user, return_url=f"{settings.SITE_URL}{reverse('billing:plan')}")
    except BillingError as exc:
        messages.error(request, str(exc))
        return redirect("billing:plan")
    return HttpResponseRedirect(url)
