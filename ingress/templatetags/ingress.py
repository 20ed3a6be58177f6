from django import template

from ingress.names import service_url as _service_url

register = template.Library()


@register.filter
def service_url(service) -> str:
    """`{{ service|service_url }}`: the service's stable address, or "" before its first deploy."""
    return _service_url(service) if service is not None else ""
