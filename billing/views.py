"""The plan page, Checkout and the customer portal: thin views over billing.actions."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from billing import actions, usage
from billing.models import Plan
from billing.quotas import account_for
from billing.stripe_api import BillingError


@login_required
@require_GET
def plan(request):
    account = account_for(request.user)
    owner = request.user
    context = {
        "account": account,
        "plans": Plan.objects.all(),
        "usage": {
            "services": usage.services_of(owner).count(),
            "environments": usage.environments_of(owner).count(),
            "builds": usage.concurrent_builds(owner),
            "minutes": round(usage.build_minutes(owner)),
        },
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
