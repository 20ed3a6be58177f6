from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from deployments.access import services_for
from deployments.actions import ActionError
from deployments.models import Service
from environments.access import ADMIN, VIEW
from ingress import access, actions
from ingress.forms import DomainForm
from ingress.models import Domain
from ingress.names import domain_url, pointing_record, service_url


def _services(user, need: str = VIEW):
    return services_for(user, need)


def _domains(user, need: str = ADMIN):
    return Domain.objects.filter(service__in=services_for(user, need)).select_related("service__environment")


def _page(request, service: Service, form: DomainForm, status: int = 200):
    domains = [
        {"domain": d, "record": pointing_record(d), "url": domain_url(d.name)}
        for d in service.custom_domains.all()
    ]
    return render(
        request, "ingress/service.html",
        {"service": service, "url": service_url(service), "domains": domains, "form": form,
         "requests": access.access_log(service, 100)[::-1],
         "grace_hours": f"{settings.DOMAIN_GRACE_HOURS:g}"},
        status=status,
    )  # fmt: skip


@login_required
def service_ingress(request, service_id: int):
    service = get_object_or_404(_services(request.user), pk=service_id)
    return _page(request, service, DomainForm())


@login_required
@require_POST
def add_domain(request, service_id: int):
    service = get_object_or_404(_services(request.user, ADMIN), pk=service_id)
    form = DomainForm(request.POST)
    if form.is_valid():
        try:
            domain = actions.add_domain(service, form.cleaned_data["name"], request.user)
        except ActionError as exc:
            form.add_error("name", str(exc))
        else:
            messages.info(request, f"{domain.name} added. {domain.check_result}")
            return redirect("service-ingress", service_id=service.pk)
    return _page(request, service, form, status=400)


@login_required
@require_POST
def check_domain(request, domain_id: int):
    domain = get_object_or_404(_domains(request.user), pk=domain_id)
    domain = actions.check_domain(domain)
    messages.info(request, domain.check_result)
    return redirect("service-ingress", service_id=domain.service_id)


@login_required
@require_POST
def remove_domain(request, domain_id: int):
    domain = get_object_or_404(_domains(request.user), pk=domain_id)
    actions.remove_domain(domain, request.user)
    messages.info(request, f"{domain.name} removed; it no longer answers.")
    return redirect("service-ingress", service_id=domain.service_id)
