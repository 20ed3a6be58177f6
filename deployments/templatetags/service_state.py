from django import template

from deployments.queries import ServiceState
from deployments.queries import service_state as _service_state

register = template.Library()


@register.filter
def service_state(service) -> ServiceState:
    """`{% with s=service|service_state %}`: the one answer the API and the CLI give too."""
    return _service_state(service)
