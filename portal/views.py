"""/healthz: the platform's own health for monitors (portal/health.py does the checks)."""

from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import health


@never_cache
@require_GET
def healthz(request):
    checks = health.run_checks()
    status = 200 if all(check.ok for check in checks) else 503
    return HttpResponse(health.as_json(checks), status=status, content_type="application/json")
