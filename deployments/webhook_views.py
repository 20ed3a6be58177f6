"""The endpoint GitHub posts deliveries to: verify, record, queue, answer fast."""

from django.db.models import Q
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from deployments import actions, webhooks
from deployments.models import Service

# Bounds what an unauthenticated sender can make us read and parse. A push
# payload is a few KB; GitHub's own cap (25 MB) is only reached by pushes of
# thousands of commits, which would be refused here with 413.
MAX_BODY_BYTES = 1024 * 1024
UNVERIFIED = (
    "No service accepts this delivery: the repository is not deployed here, or the "
    "X-Hub-Signature-256 header does not match the service's webhook secret."
)


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _candidates(repository: webhooks.Repository):
    match = Q()
    if repository.full_name:
        match |= Q(github_repository__iexact=repository.full_name)
    for url in repository.urls:
        match |= Q(repository_url__iexact=url)
    return Service.objects.filter(match).order_by("pk")


@csrf_exempt
@require_POST
def github(request):
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return _error("The Content-Length header is not a number.", 400)
    if length > MAX_BODY_BYTES:
        return _error(f"The body is larger than {MAX_BODY_BYTES} bytes.", 413)
    signature = request.headers.get("X-Hub-Signature-256")
    if not signature or not signature.startswith(webhooks.SIGNATURE_PREFIX):
        return _error("The X-Hub-Signature-256 header is missing; set a secret on the webhook.", 401)
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(f"The body is larger than {MAX_BODY_BYTES} bytes.", 413)

    # The secret is per service, so the (not yet trusted) payload says which
    # services to try; nothing is acted on until one's secret verifies it.
    try:
        payload = webhooks.parse_body(body, request.content_type)
    except webhooks.InvalidPayload as exc:
        return _error(str(exc), 400)
    repository = webhooks.repository_of(payload)
    if repository is None:
        return _error(UNVERIFIED, 401)
    services = [
        service
        for service in _candidates(repository)
        if webhooks.signature_is_valid(service.webhook_secret, body, signature)
    ]
    if not services:
        return _error(UNVERIFIED, 401)

    event = request.headers.get("X-GitHub-Event", "")
    delivery_id = request.headers.get("X-GitHub-Delivery", "")
    if not event or not delivery_id or len(delivery_id) > 100:
        return _error("The X-GitHub-Event or X-GitHub-Delivery header is missing or invalid.", 400)

    # Each service's hook has its own secret, so normally exactly one verifies.
    handled = [
        actions.receive_webhook(service, delivery_id=delivery_id, event=event, payload=payload)
        for service in services
    ]
    for delivery, new in handled:
        if new and delivery.deployment_id:
            return JsonResponse(
                {"outcome": delivery.outcome, "deployment": delivery.deployment_id}, status=202
            )
    delivery, new = handled[0]
    return JsonResponse({"outcome": delivery.outcome if new else "already received"})
