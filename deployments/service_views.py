"""The service page and what can be done to a service from it."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.github import is_github_url
from deployments import (
    actions,
    confirm,
    controls,
    processes,
    queries,
    queue,
    scaling,
    variable_views,
    variables,
)
from deployments import runtime_logs as runtime_log_store
from deployments.access import services_for
from deployments.errors import PlatformError
from deployments.forms import PromoteForm, VariableForm
from deployments.procfile import valid_name as valid_process_name
from deployments.repo_config import current as current_health_check
from environments.access import ADMIN, DEPLOY, can, environments_for, role_of


@login_required
def service_detail(request, service_id: int, *, variable_form=None, status=200):
    service = get_object_or_404(services_for(request.user), pk=service_id)
    deployments = list(service.deployments.order_by("-id")[:50])
    positions = queue.positions()
    for deployment in deployments:
        deployment.position = positions.get(deployment.pk)
    rollback_to = queries.rollback_targets(service, deployments)
    targets = environments_for(request.user, DEPLOY).exclude(pk=service.environment_id)
    context = {
        "service": service,
        "deployments": deployments,
        "rollback_to": rollback_to,
        "webhook_url": settings.SITE_URL.rstrip("/") + reverse("github-webhook"),
        "processes": processes.for_service(service),
        "max_replicas": scaling.max_replicas(service)[0],
        # The push-webhook box says how to add one on GitHub: only for a repository there.
        "on_github": is_github_url(service.repository_url),
        "variables": variables.shown(service),
        "variable_form": variable_form or VariableForm(),
        "promote_form": PromoteForm(environments=targets) if targets else None,
        "can_deploy": can(request.user, service.environment, DEPLOY),
        "can_admin": can(request.user, service.environment, ADMIN),
        "role": role_of(request.user, service.environment),
        # What the health monitor did lately (taken out, restarted, back in).
        "health_events": list(service.health_events.order_by("-id")[:10]),
        "health_check": current_health_check(service),  # m3o.toml's values win over the settings
    }
    return render(request, "deployments/service.html", context, status=status)


def _service_action(request, service_id: int, need: str = DEPLOY):
    return get_object_or_404(services_for(request.user, need), pk=service_id)


def _run(request, service, action, done: str):
    try:
        result = action()
    except actions.ActionError as exc:
        messages.error(request, str(exc))
        return redirect("service", service_id=service.pk)
    except PlatformError:
        messages.error(request, "The container engine did not answer; try again in a moment.")
        return redirect("service", service_id=service.pk)
    # It says what was asked, not what is: it goes once the page shows a change (static/js/live.js).
    messages.info(request, done, extra_tags="transient")
    if getattr(result, "pk", None) and result.__class__.__name__ == "Deployment":
        return redirect("deployment", deployment_id=result.pk)
    return redirect("service", service_id=service.pk)


@login_required
@require_POST
def redeploy(request, service_id: int):
    service = _service_action(request, service_id)
    return _run(request, service, lambda: actions.request_deploy(service, request.user), "Deployment queued.")


@login_required
@require_POST
def apply_variables(request, service_id: int):
    """After a change of variables: what runs starts again with them, a rolled-back image too."""
    service = _service_action(request, service_id)
    request.session.pop("offer_redeploy", None)
    return _run(
        request, service, lambda: controls.apply_variables(service, request.user),
        f"{service.name} starts again with its variables as they are now.",
    )  # fmt: skip


@login_required
@require_POST
def stop(request, service_id: int):
    service = _service_action(request, service_id)
    asked = confirm.ask(
        request, title=f"Stop {service.name}?", button=f"Stop {service.name}",
        question=f"{service.name} in {service.environment.name} stops answering until you start it again.",
        back=reverse("service", args=[service.pk]),
    )  # fmt: skip
    if asked:
        return asked
    return _run(request, service, lambda: controls.stop(service, request.user), f"{service.name} stopped.")


@login_required
@require_POST
def scale(request, service_id: int):
    """The Processes table's form: one process type's replicas."""
    service = _service_action(request, service_id)
    name, count = request.POST.get("process", ""), request.POST.get("replicas", "").strip()
    counts = {name: int(count) if count.isdigit() and len(count) < 6 else count}
    return _run(
        request, service, lambda: scaling.scale(service, request.user, counts), f"Scaling {name[:30]}."
    )


@login_required
@require_POST
def start(request, service_id: int):
    service = _service_action(request, service_id)
    return _run(request, service, lambda: controls.start(service, request.user), f"{service.name} starting.")


@login_required
@require_POST
def restart(request, service_id: int):
    service = _service_action(request, service_id)
    return _run(
        request, service, lambda: controls.restart(service, request.user), f"{service.name} restarted."
    )


@login_required
@require_POST
def rollback(request, service_id: int, deployment_id: int):
    service = _service_action(request, service_id)
    earlier = get_object_or_404(service.deployments, pk=deployment_id)
    asked = confirm.ask(
        request, title=f"Roll {service.name} back to deployment #{earlier.pk}?",
        button=f"Roll back to #{earlier.pk}", back=reverse("service", args=[service.pk]),
        question=(
            f"The image of deployment #{earlier.pk} (commit {earlier.short_sha or 'unknown'}) runs again in "
            f"place of what serves now, once it answers. Nothing is rebuilt."
        ),
    )  # fmt: skip
    if asked:
        return asked
    return _run(
        request, service, lambda: controls.rollback(service, earlier, request.user),
        f"Rolling back to deployment #{earlier.pk}.",
    )  # fmt: skip


@login_required
@require_POST
def promote(request, service_id: int):
    service = _service_action(request, service_id)
    targets = environments_for(request.user, DEPLOY).exclude(pk=service.environment_id)
    form = PromoteForm(request.POST, environments=targets)
    live = service.live_deployment
    if not form.is_valid() or live is None:
        messages.error(request, "Pick an environment to promote the running deployment to.")
        return redirect("service", service_id=service.pk)
    target = form.cleaned_data["environment"]
    return _run(
        request, service, lambda: controls.promote(live, target, request.user),
        f"Promoting deployment #{live.pk} to {target.name}.",
    )  # fmt: skip


@login_required
def runtime_logs(request, service_id: int):
    """The running instance's own output: the last lines, those since a time or after a cursor, filtered."""
    service = get_object_or_404(services_for(request.user), pk=service_id)
    live = service.live_deployment
    if live is None or live.state != "running" or not live.instance_id:
        return JsonResponse({"running": False, "lines": []})
    try:
        tail = min(max(int(request.GET.get("tail", "200")), 1), 2000)
        since = float(request.GET["since"]) if request.GET.get("since") else None
    except ValueError:
        return JsonResponse({"error": "tail and since must be numbers"}, status=400)
    after = request.GET.get("after", "")
    if after and not runtime_log_store.valid_cursor(after):
        return JsonResponse({"error": "after must be a cursor from an earlier answer"}, status=400)
    process = request.GET.get("process") or "web"
    if not valid_process_name(process):
        return JsonResponse({"error": "process must be a process type such as web or worker"}, status=400)
    found = runtime_log_store.recent(
        live.pk, tail=tail, since=since, grep=request.GET.get("q", ""), after=after, process=process
    )
    return JsonResponse({"running": True, "deployment": live.pk, "lines": [line.as_dict() for line in found]})


@login_required
@require_POST
def set_variable(request, service_id: int):
    service = _service_action(request, service_id, ADMIN)
    refused = variable_views.save_from_form(request, service)
    if refused:
        return service_detail(request, service.pk, variable_form=refused, status=400)
    request.session["offer_redeploy"] = service.pk
    return redirect("service", service_id=service.pk)


@login_required
@require_POST
def unset_variable(request, service_id: int):
    service = _service_action(request, service_id, ADMIN)
    if variable_views.remove_from_form(request, service):
        request.session["offer_redeploy"] = service.pk
    return redirect("service", service_id=service.pk)
