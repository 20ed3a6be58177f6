"""The dashboard's cron jobs page of a service (form, list, recent runs) and a run's output."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from deployments.access import services_for
from deployments.actions import ActionError
from environments.access import DEPLOY, can
from jobs import actions
from jobs.access import cron_jobs_for, runs_for
from jobs.models import CronJob

RECENT_RUNS = 30


class CronJobForm(forms.Form):
    schedule = forms.CharField(
        max_length=1000, help_text="Five cron fields, in UTC: */5 * * * *, 0 3 * * mon"
    )
    command = forms.CharField(max_length=100_000, widget=forms.TextInput, strip=False)
    policy = forms.ChoiceField(choices=CronJob.Policy.choices, initial=CronJob.Policy.FORBID, required=False)
    timeout = forms.IntegerField(
        label="Time limit (seconds)", required=False, help_text="Empty: one hour; a run past it is stopped"
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def cron_jobs(request, service_id: int):
    """The list, the form and the recent runs; a post adds a job."""
    if request.method == "POST":
        return _add(request, service_id)
    return _page(request, service_id)


def _page(request, service_id: int, *, form=None, status=200):
    service = get_object_or_404(services_for(request.user), pk=service_id)
    context = {
        "service": service,
        "jobs": cron_jobs_for(request.user).filter(service=service),
        "runs": runs_for(request.user).filter(service=service)[:RECENT_RUNS],
        "form": form or CronJobForm(initial={"timeout": settings.CRON_DEFAULT_TIMEOUT}),
        "can_deploy": can(request.user, service.environment, DEPLOY),
    }
    return render(request, "jobs/cron.html", context, status=status)


def _add(request, service_id: int):
    service = get_object_or_404(services_for(request.user, DEPLOY), pk=service_id)
    form = CronJobForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            actions.add_cron_job(
                service, request.user, schedule=data["schedule"], command=data["command"],
                policy=data["policy"] or CronJob.Policy.FORBID, timeout=data["timeout"],
            )  # fmt: skip
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Cron job added.")
            return redirect("service-cron", service.pk)
    return _page(request, service.pk, form=form, status=400)


@login_required
@require_POST
def remove(request, job_id: int):
    job = get_object_or_404(cron_jobs_for(request.user, DEPLOY), pk=job_id)
    service_id = job.service_id
    actions.remove_cron_job(job, request.user)
    messages.success(request, "Cron job removed.")
    return redirect("service-cron", service_id)


@login_required
def run_detail(request, run_id: int):
    run = get_object_or_404(runs_for(request.user), pk=run_id)
    return render(request, "jobs/run.html", {"run": run})
