"""Deployments: the list, one deployment, its build log (paged or followed), cancel."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, renderers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from api import streams
from api.serializers import BuildLogSerializer, DeploymentSerializer, LogLineSerializer, WhoamiSerializer
from deployments import controls, logs
from deployments.access import deployments_for
from environments.access import DEPLOY, VIEW


def deployment_for(request, deployment_id: int, need: str = VIEW):
    return get_object_or_404(deployments_for(request.user, need), pk=deployment_id)


def _int_param(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: f"{name} must be a whole number, not {raw!r}."}) from None
    return min(max(value, low), high)


@extend_schema(
    parameters=[
        OpenApiParameter("service", int, description="Only deployments of this service (id)."),
        OpenApiParameter("environment", int, description="Only deployments in this environment (id)."),
        OpenApiParameter("unsettled", bool, description="Only those queued, building or starting."),
    ]
)
class DeploymentList(generics.ListAPIView):
    serializer_class = DeploymentSerializer

    def get_queryset(self):
        deployments = deployments_for(self.request.user).order_by("-id")
        params = self.request.query_params
        if params.get("service", "").isdigit():
            deployments = deployments.filter(service_id=int(params["service"]))
        if params.get("environment", "").isdigit():
            deployments = deployments.filter(service__environment_id=int(params["environment"]))
        if params.get("unsettled", "").lower() in ("1", "true", "yes"):
            deployments = deployments.filter(state__in=("queued", "cloning", "building", "starting"))
        return deployments


class DeploymentDetail(generics.GenericAPIView):
    serializer_class = DeploymentSerializer

    def get(self, request, deployment_id: int):
        return Response(self.get_serializer(deployment_for(request, deployment_id)).data)


class DeploymentCancel(generics.GenericAPIView):
    serializer_class = DeploymentSerializer

    @extend_schema(request=None)
    def post(self, request, deployment_id: int):
        deployment = deployment_for(request, deployment_id, DEPLOY)
        controls.cancel(deployment, request.user)
        deployment.refresh_from_db()
        return Response(self.get_serializer(deployment).data)


_AFTER = OpenApiParameter("after", int, description="Only lines with a sequence number above this.")


@extend_schema(
    parameters=[_AFTER, OpenApiParameter("limit", int, description="At most this many lines (1 to 1000).")]
)
class DeploymentLog(generics.GenericAPIView):
    serializer_class = BuildLogSerializer

    def get(self, request, deployment_id: int):
        """Build log lines after a sequence number: ask again with `next_after` for more."""
        deployment = deployment_for(request, deployment_id)
        after = _int_param(request, "after", 0, 0, 2**31)
        limit = _int_param(request, "limit", 1000, 1, 1000)
        lines = logs.lines_after(deployment.pk, after, limit=limit)
        return Response(
            {
                "lines": LogLineSerializer(lines, many=True).data,
                "next_after": lines[-1].seq if lines else after,
                "state": deployment.state,
                "complete": deployment.settled and len(lines) < limit,
            }
        )


@extend_schema(
    parameters=[_AFTER],
    responses={(200, streams.MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description="NDJSON lines")},
)
class DeploymentLogFollow(generics.GenericAPIView):
    renderer_classes = [renderers.JSONRenderer, streams.NDJSONRenderer]

    def get(self, request, deployment_id: int):
        """Build log lines as they come ({"seq", "text"}), ending with {"deployment": ...} once it settles."""
        deployment = deployment_for(request, deployment_id)
        after = _int_param(request, "after", 0, 0, 2**31)
        return streams.response(
            request, streams.build_log(deployment.pk, after, lambda d: DeploymentSerializer(d).data)
        )


class Whoami(generics.GenericAPIView):
    serializer_class = WhoamiSerializer

    def get(self, request):
        return Response({"username": request.user.get_username(), "email": request.user.email})
