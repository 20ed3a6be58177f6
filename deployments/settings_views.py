"""A service's settings page: where it comes from, how it is built, started and checked; rename, delete."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from deployments import repo_config, service_settings
from deployments.access import services_for
from deployments.actions import ActionError
from environments.access import ADMIN


def _bounds(field: str) -> dict:
    low, high = service_settings.BOUNDS[field]
    return {"min_value": low, "max_value": high}


class SettingsForm(forms.Form):
    name = forms.CharField(max_length=30, help_text="Part of its address; the address changes at once.")
    repository_url = forms.CharField(label="Repository URL", max_length=500)
    branch = forms.CharField(
        max_length=200, required=False, help_text="Empty: the repository's default branch"
    )
    subdirectory = forms.CharField(label="Folder", max_length=300, required=False, help_text="For a monorepo")
    port = forms.IntegerField(min_value=1, max_value=65535, help_text="The app gets it as $PORT")
    start_command = forms.CharField(
        max_length=1000, required=False, help_text="Empty: the Procfile's web: line, or detected"
    )
    build_command = forms.CharField(
        max_length=1000, required=False, help_text="Runs in the image after the dependencies are installed"
    )
    predeploy_command = forms.CharField(
        label="Pre-deploy command", max_length=1000, required=False,
        help_text="Runs once per deployment in the new image, before it goes live (Procfile release:)",
    )  # fmt: skip
    health_check_path = forms.CharField(
        max_length=200,
        help_text="Asked before a new instance gets requests, and every interval while it runs",
    )
    # Left out of a post (an older page), these stay as they are.
    health_check_status = forms.CharField(
        label="Expected status", max_length=60, required=False,
        help_text="Codes or ranges: 200, 200-399 (2xx and 3xx, as Render counts), 2xx,301; default 200-499",
    )  # fmt: skip
    health_check_interval = forms.IntegerField(
        label="Check interval (seconds)", **_bounds("health_check_interval"), required=False
    )
    health_check_timeout = forms.IntegerField(
        label="Check timeout (seconds)", **_bounds("health_check_timeout"), required=False
    )
    health_check_start_period = forms.IntegerField(
        label="Start period (seconds)", **_bounds("health_check_start_period"), required=False,
        help_text="Failed checks this soon after a start do not count",
    )  # fmt: skip
    health_check_threshold = forms.IntegerField(
        label="Failure threshold", **_bounds("health_check_threshold"), required=False,
        help_text="Failed checks in a row before an instance is taken out of the ingress and restarted",
    )  # fmt: skip
    stop_grace_period = forms.IntegerField(
        label="Grace period (seconds)", **_bounds("stop_grace_period"), required=False,
        help_text="From SIGTERM to SIGKILL when an instance stops; empty: the platform's default",
    )  # fmt: skip

    # An uploaded service keeps its folder and its name: those two are shown, not edited.
    UPLOAD_FIXED = ("name", "repository_url")

    def __init__(self, *args, uploaded: bool = False, repository: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.UPLOAD_FIXED if uploaded else ():
            self.fields[field].disabled = True
        # What the live deployment's m3o.toml sets is shown, and changed there, not here.
        self.repository = repository or {}
        for field, value in self.repository.items():
            self.fields[field].disabled = True
            self.initial[field] = value
            self.fields[field].help_text = "Set by m3o.toml in the repository: change it there"


class DeleteForm(forms.Form):
    confirm_name = forms.CharField(label="Type the service's name to confirm", max_length=30)


def _initial(service) -> dict:
    return {field: getattr(service, field) for field in SettingsForm.base_fields}


def _page(request, service, form=None, delete_form=None, status=200):
    uploaded = service_settings.is_upload(service)
    repository = repo_config.from_repository(service)
    context = {
        "service": service,
        "uploaded": uploaded,
        "form": form or SettingsForm(initial=_initial(service), uploaded=uploaded, repository=repository),
        "delete_form": delete_form or DeleteForm(),
    }
    return render(request, "deployments/settings.html", context, status=status)


@login_required
def settings_page(request, service_id: int):
    service = get_object_or_404(services_for(request.user, ADMIN), pk=service_id)
    if request.method != "POST":
        return _page(request, service)
    uploaded = service_settings.is_upload(service)
    repository = repo_config.from_repository(service)
    form = SettingsForm(request.POST, initial=_initial(service), uploaded=uploaded, repository=repository)
    if form.is_valid():
        try:
            data = dict(form.cleaned_data)
            data["health_check_status"] = data.get("health_check_status") or None
            if data.get("stop_grace_period") is None:
                data["stop_grace_period"] = service_settings.DEFAULT_GRACE
            data |= dict.fromkeys(repository)  # None: the service's own setting stays as it is
            changed = service_settings.change_settings(service, request.user, **data)
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            if changed:
                messages.info(request, f"Saved: {', '.join(changed)}. The next deployment uses them.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect("service-settings", service_id=service.pk)
    return _page(request, service, form=form, status=400)


@login_required
@require_POST
def delete(request, service_id: int):
    service = get_object_or_404(services_for(request.user, ADMIN), pk=service_id)
    form = DeleteForm(request.POST)
    if form.is_valid() and form.cleaned_data["confirm_name"].strip() != service.name:
        form.add_error("confirm_name", f"Type {service.name} exactly to delete it.")
    if not form.is_valid():
        return _page(request, service, delete_form=form, status=400)
    name, environment = service.name, service.environment.name
    try:
        service_settings.remove_service(service, request.user)
    except ActionError as exc:
        form.add_error(None, str(exc))
        return _page(request, service, delete_form=form, status=400)
    messages.info(request, f"{name} deleted from {environment}; its instances and images are being removed.")
    return redirect("dashboard")
