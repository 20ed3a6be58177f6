from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from deployments import actions, controls, logs, queue
from deployments.access import deployments_for, services_for
from deployments.forms import DeployForm
from deployments.queries import deploy_targets, with_newest
from environments.access import DEPLOY, environments_for
from ingress.names import service_url


def listed(services):
    """Services with what service_state needs, in one query."""
    return with_newest(services).order_by("environment__name", "name")


def _dashboard(request, form, status=200):
    environments = environments_for(request.user).filter(deleted_at__isnull=True).order_by("name")
    services = listed(services_for(request.user).filter(environment__deleted_at__isnull=True))
    context = {"services": services, "environments": environments, "form": form}
    return render(request, "deployments/dashboard.html", context, status=status)


def dashboard(request):
    # The address everyone lands on: what the product is for visitors, their services for members.
    if not request.user.is_authenticated:
        return render(request, "home.html")
    if not services_for(request.user).exists() and not environments_for(request.user).exists():
        return redirect("onboarding")
    return _dashboard(request, _deploy_form(request))


@login_required
@require_POST
def deploy(request):
    form = _deploy_form(request, request.POST)
    if form.is_valid():
        try:
            deployment = actions.deploy_repository(request.user, **form.cleaned_data)
        except actions.NeedsConfirmation as exc:
            form.ask_to_replace(str(exc))
        except actions.ActionError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("deployment", deployment_id=deployment.pk)
    return _dashboard(request, form, status=400)


def _deploy_form(request, data=None) -> DeployForm:
    targets = deploy_targets(request.user).select_related("owner")
    return DeployForm(data, environments=targets, user=request.user)


@login_required
def deployment_detail(request, deployment_id: int):
    deployment = get_object_or_404(deployments_for(request.user), pk=deployment_id)
    # A live refresh (static/js/live.js) takes only the state above the log: log-follow.js has the lines.
    live = bool(request.headers.get("X-Live"))
    lines = [] if live else logs.lines_after(deployment.pk, 0, limit=5000)
    after = lines[-1].seq if lines else 0
    context = {
        "deployment": deployment,
        "lines": lines,
        "after": after,
        "position": queue.position(deployment),
    }
    return render(request, "deployments/deployment.html", context)


@login_required
def deployment_log(request, deployment_id: int):
    deployment = get_object_or_404(deployments_for(request.user), pk=deployment_id)
    try:
        after = max(0, int(request.GET.get("after", "0")))
    except ValueError:
        after = 0
    lines = logs.lines_after(deployment.pk, after)
    return JsonResponse(
        {
            "state": deployment.state,
            "final": deployment.settled,
            "failure_reason": deployment.failure_reason,
            "url": (service_url(deployment.service) or deployment.url) if deployment.url else "",
            "position": queue.position(deployment),
            "lines": [{"seq": line.seq, "text": line.text} for line in lines],
        }
    )


@login_required
@require_POST
def cancel(request, deployment_id: int):
    deployment = get_object_or_404(deployments_for(request.user, DEPLOY), pk=deployment_id)
    try:
        controls.cancel(deployment, request.user)
    except actions.ActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, f"Deployment #{deployment.pk} cancelled.")
    return redirect("deployment", deployment_id=deployment.pk)
