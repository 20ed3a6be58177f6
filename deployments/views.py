from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Subquery
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import actions, logs
from deployments.forms import DeployForm
from deployments.models import Deployment, Service


def _services(user):
    return Service.objects.filter(environment__owner=user).select_related("environment", "live_deployment")


def _listed(user):
    """Services with their newest deployment's id and state, in one query."""
    newest = Deployment.objects.filter(service=OuterRef("pk")).order_by("-id")
    return _services(user).annotate(
        newest_id=Subquery(newest.values("pk")[:1]),
        newest_state=Subquery(newest.values("state")[:1]),
    )


def _deployments(user):
    return Deployment.objects.filter(service__environment__owner=user).select_related("service__environment")


@login_required
def dashboard(request):
    if not Service.objects.filter(environment__owner=request.user).exists():
        return redirect("onboarding")
    form = DeployForm()
    return render(request, "deployments/dashboard.html", {"services": _listed(request.user), "form": form})


@login_required
@require_POST
def deploy(request):
    form = DeployForm(request.POST)
    if form.is_valid():
        try:
            deployment = actions.deploy_repository(request.user, **form.cleaned_data)
        except actions.ActionError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("deployment", deployment_id=deployment.pk)
    return render(
        request, "deployments/dashboard.html",
        {"services": _listed(request.user), "form": form}, status=400,
    )  # fmt: skip


@login_required
def service_detail(request, service_id: int):
    service = get_object_or_404(_services(request.user), pk=service_id)
    deployments = service.deployments.order_by("-id")[:50]
    webhook_url = request.build_absolute_uri(reverse("github-webhook"))
    return render(
        request, "deployments/service.html",
        {"service": service, "deployments": deployments, "webhook_url": webhook_url},
    )  # fmt: skip


@login_required
@require_POST
def redeploy(request, service_id: int):
    service = get_object_or_404(_services(request.user), pk=service_id)
    deployment = actions.request_deploy(service, request.user)
    messages.info(request, f"Deployment #{deployment.pk} queued.")
    return redirect("deployment", deployment_id=deployment.pk)


@login_required
def deployment_detail(request, deployment_id: int):
    deployment = get_object_or_404(_deployments(request.user), pk=deployment_id)
    lines = logs.lines_after(deployment.pk, 0, limit=5000)
    after = lines[-1].seq if lines else 0
    return render(
        request, "deployments/deployment.html",
        {"deployment": deployment, "lines": lines, "after": after},
    )  # fmt: skip


@login_required
def deployment_log(request, deployment_id: int):
    deployment = get_object_or_404(_deployments(request.user), pk=deployment_id)
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
            "url": deployment.url,
            "lines": [{"seq": line.seq, "text": line.text} for line in lines],
        }
    )
