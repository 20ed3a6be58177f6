from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from deployments import actions as deploy_actions
from deployments import queue, variable_views, variables
from deployments.forms import VariableForm
from deployments.models import Service
from deployments.queries import service_state
from deployments.views import listed
from environments import actions
from environments.access import ADMIN, DEPLOY, VIEW, can, environments_for, role_of
from environments.forms import DeleteForm, EnvironmentForm, MemberForm, ServiceDeployForm
from ingress.names import service_url


def _environment(request, environment_id: int, need: str = VIEW):
    return get_object_or_404(environments_for(request.user, need), pk=environment_id)


@login_required
def new_environment(request):
    sources = environments_for(request.user).filter(deleted_at__isnull=True)
    form = EnvironmentForm(request.POST or None, environments=sources)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            environment = actions.create_environment(
                request.user,
                name=data["name"],
                kind=data["kind"],
                description=data["description"],
                copy_from=data["copy_from"],
                ttl_hours=data["ttl_hours"],
            )
        except actions.EnvironmentError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("environment", environment_id=environment.pk)
    return render(request, "environments/new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def environment_detail(request, environment_id: int, *, status=200, **forms):
    """The environment's page; `forms` are bound forms refused on a post, shown with their errors."""
    environment = _environment(request, environment_id)
    services = list(
        listed(
            Service.objects.filter(environment=environment).select_related(
                "live_deployment", "ingress_hostname"
            )
        )
    )
    positions = queue.positions()
    for service in services:
        service.position = positions.get(service.newest_id)
    context = {
        "environment": environment,
        "services": services,
        "role": role_of(request.user, environment),
        "can_deploy": can(request.user, environment, DEPLOY),
        "can_admin": can(request.user, environment, ADMIN),
        "members": environment.memberships.select_related("user"),
        "events": environment.events.all()[:20],
        "variables": variables.shown(environment),
        "variable_form": VariableForm(),
        "member_form": MemberForm(),
        "deploy_form": ServiceDeployForm(),
        **forms,
    }
    return render(request, "environments/detail.html", context, status=status)


def _state(service) -> dict:
    said = service_state(service)
    return {"state": said.state, "deployment": said.deployment, "status": said.text, "newest": said.newest}


@login_required
def environment_status(request, environment_id: int):
    """What the environment page refreshes without reloading."""
    environment = _environment(request, environment_id)
    positions = queue.positions()
    services = listed(
        Service.objects.filter(environment=environment).select_related("live_deployment", "ingress_hostname")
    )
    return JsonResponse(
        {
            "services": [
                {
                    "id": s.pk,
                    "name": s.name,
                    **_state(s),
                    "position": positions.get(s.newest_id),
                    "url": service_url(s) if s.live_deployment and s.live_deployment.url else "",
                    "commit": s.live_deployment.short_sha if s.live_deployment else "",
                }
                for s in services
            ]
        }
    )


@login_required
@require_POST
def deploy_into(request, environment_id: int):
    environment = _environment(request, environment_id, DEPLOY)
    form = ServiceDeployForm(request.POST)
    if form.is_valid():
        try:
            deployment = deploy_actions.deploy_repository(
                request.user, environment=environment, **form.cleaned_data
            )
        except deploy_actions.NeedsConfirmation as exc:
            form.ask_to_replace(str(exc))
        except deploy_actions.ActionError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("deployment", deployment_id=deployment.pk)
    return environment_detail(request, environment.pk, deploy_form=form, status=400)


@login_required
def delete_environment(request, environment_id: int):
    """A page that asks for the environment's name typed; only then is it deleted."""
    environment = _environment(request, environment_id, ADMIN)
    form = DeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["confirm_name"].strip() != environment.name:
            form.add_error("confirm_name", f"Type {environment.name} exactly to delete it.")
        else:
            try:
                actions.delete_environment(environment, request.user)
            except actions.EnvironmentError as exc:
                form.add_error(None, str(exc))
            else:
                messages.info(request, f"{environment.name} deleted: its services are stopped and removed.")
                return redirect("dashboard")
    services = environment.services.order_by("name").values_list("name", flat=True)
    context = {"environment": environment, "form": form, "services": list(services)}
    return render(request, "environments/delete.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def add_member(request, environment_id: int):
    environment = _environment(request, environment_id, ADMIN)
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            actions.add_member(
                environment, form.cleaned_data["email"], form.cleaned_data["role"], request.user
            )
        except actions.EnvironmentError as exc:
            form.add_error("email", str(exc))
        else:
            messages.info(request, f"{form.cleaned_data['email']} added.")
            return redirect("environment", environment_id=environment.pk)
    return environment_detail(request, environment.pk, member_form=form, status=400)


@login_required
@require_POST
def remove_member(request, environment_id: int, membership_id: int):
    environment = _environment(request, environment_id, ADMIN)
    try:
        actions.remove_member(environment, membership_id, request.user)
    except actions.EnvironmentError as exc:
        messages.error(request, str(exc))
    return redirect("environment", environment_id=environment.pk)


@login_required
@require_POST
def set_variable(request, environment_id: int):
    environment = _environment(request, environment_id, ADMIN)
    refused = variable_views.save_from_form(request, environment)
    if refused:
        return environment_detail(request, environment.pk, variable_form=refused, status=400)
    return redirect("environment", environment_id=environment.pk)


@login_required
@require_POST
def unset_variable(request, environment_id: int):
    environment = _environment(request, environment_id, ADMIN)
    variable_views.remove_from_form(request, environment)
    return redirect("environment", environment_id=environment.pk)
