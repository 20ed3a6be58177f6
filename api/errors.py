"""Every error of the API as JSON, `{"error": "..."}`, in words a person understands."""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from deployments.actions import ActionError, NeedsConfirmation
from deployments.errors import PlatformError
from deployments.source import InvalidSource
from deployments.variables import InvalidVariable
from environments.actions import EnvironmentError

log = logging.getLogger(__name__)

NOT_FOUND = "Not found: it does not exist, or you may not see it."
_REFUSED = (ActionError, EnvironmentError, InvalidVariable, InvalidSource)


def _first_message(detail) -> str:
    """The first message of a DRF error detail, with the field it is about."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            text = _first_message(value)
            return text if field in ("non_field_errors", "detail") else f"{field}: {text}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def handle(exc, context):
    if isinstance(exc, NeedsConfirmation):
        # Nothing changed; the same request with "replace": true goes through.
        set_rollback()
        return Response(
            {
                "error": f'{exc} Send the request again with "replace": true to replace it.',
                "question": str(exc),
                "confirm": "replace",
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, _REFUSED):
        set_rollback()
        return Response({"error": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, PlatformError):
        log.error("platform error in the API: %s", exc)
        set_rollback()
        return Response(
            {"error": "The container engine did not answer; try again in a moment."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(NOT_FOUND)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        log.exception("unexpected error in the API", exc_info=exc)
        set_rollback()
        return Response(
            {"error": "Something went wrong on our side; the operator has the details."},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    body = {"error": _first_message(response.data)}
    if isinstance(exc, exceptions.ValidationError) and isinstance(response.data, dict):
        body["fields"] = response.data
    response.data = body
    return response


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Unknown addresses under /api/ answer in JSON too, not with an HTML page."""
    return JsonResponse({"error": f"There is no API endpoint at {request.path}."}, status=404)
