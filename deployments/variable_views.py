"""Saving and removing a variable from a page: shared by the service and environment pages."""

from django.contrib import messages

from deployments import variables
from deployments.forms import VariableForm
from deployments.models import Service


def _redeploy_hint(target) -> str:
    return "the running app" if isinstance(target, Service) else "the services"


def save_from_form(request, target) -> VariableForm | None:
    """Set the posted variable on `target`.

    None when it was saved; otherwise the form, bound, with the reason next to
    its field, for the page to show again with what was typed.
    """
    form = VariableForm(request.POST)
    if not form.is_valid():
        return form
    key = form.cleaned_data["key"]
    try:
        variables.set_variable(
            target, key, form.cleaned_data["value"], secret=form.cleaned_data["secret"], by=request.user
        )
    except variables.InvalidVariable as exc:
        form.add_error(exc.field, str(exc))
        return form
    messages.info(request, f"{key} saved. Redeploy to give it to {_redeploy_hint(target)}.")
    return None


def remove_from_form(request, target) -> bool:
    """Unset the posted variable of `target`; True when there was one."""
    key = request.POST.get("key", "")
    if not variables.unset_variable(target, key, by=request.user):
        return False
    messages.info(request, f"{key} removed. Redeploy to take it from {_redeploy_hint(target)}.")
    return True
