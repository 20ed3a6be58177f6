"""Services: deploy, upload, the actions on them, their variables and runtime logs."""

import time

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, parsers, renderers, status
from rest_framework.response import Response

from api import streams, uploads
from api.serializers import (
    DeploymentSerializer,
    DeploySerializer,
    HealthEventSerializer,
    PromoteSerializer,
    RollbackSerializer,
    RuntimeLogSerializer,
    ServiceSerializer,
    ServiceSettingsSerializer,
    UploadSerializer,
    VariableSerializer,
)
from api.views_environments import VariablesOf
from deployments import actions, controls, procfile, runtime_logs, service_settings, variables
from deployments.access import services_for
from deployments.models import Deployment
from deployments.queries import default_rollback_target, target_environment, with_newest
from environments.access import ADMIN, DEPLOY, VIEW, environments_for

State = Deployment.State


def service_for(request, service_id: int, need: str = VIEW):
    return get_object_or_404(services_for(request.user, need), pk=service_id)


def _deployed(deployment) -> Response:
    return Response(DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)


@extend_schema(
    parameters=[
        OpenApiParameter("environment", int, description="Only services of this environment (id)."),
        OpenApiParameter("name", str, description="Only services of this name."),
    ]
)
class ServiceList(generics.ListCreateAPIView):
    serializer_class = ServiceSerializer

    def get_queryset(self):
        services = services_for(self.request.user).filter(environment__deleted_at__isnull=True)
        params = self.request.query_params
        if params.get("environment", "").isdigit():
            services = services.filter(environment_id=int(params["environment"]))
        if name := params.get("name"):
            # Postgres refuses a NUL in text, and no name holds one: nothing matches.
            services = services.filter(name=name) if "\x00" not in name else services.none()
        return with_newest(services).order_by("environment__name", "name", "id")

    @extend_schema(request=DeploySerializer, responses={201: DeploymentSerializer})
    def post(self, request):
        """Create the service (or change where it comes from) and deploy it."""
        form = DeploySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        with transaction.atomic():
            deployment = actions.deploy_repository(
                request.user,
                name=data["name"],
                repository_url=data["repository_url"],
                branch=data["branch"],
                subdirectory=data["path"],
                environment=target_environment(request.user, data["environment"]),
                port=data.get("port"),
                start_command=data.get("start_command"),
                build_command=data.get("build_command"),
                predeploy_command=data.get("predeploy_command"),
                replace=data["replace"],
            )
        return _deployed(deployment)


class ServiceUpload(generics.GenericAPIView):
    serializer_class = UploadSerializer
    parser_classes = [parsers.MultiPartParser]

    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={201: DeploymentSerializer})
    def post(self, request):
        """Deploy a folder sent as a .tar.gz, exactly as a repository would be deployed."""
        form = UploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        with transaction.atomic():
            environment = target_environment(request.user, data["environment"])
            repository = uploads.repository_path(environment.pk, data["name"])
            uploads.commit_upload(data["archive"], repository, request.user.email or request.user.username)
            deployment = actions.deploy_repository(
                request.user,
                name=data["name"],
                repository_url=str(repository),
                branch="main",
                subdirectory=data["path"],
                environment=environment,
                port=data.get("port"),
                start_command=data.get("start_command"),
                build_command=data.get("build_command"),
                predeploy_command=data.get("predeploy_command"),
                replace=data["replace"],
            )
        return _deployed(deployment)


class ServiceDetail(generics.GenericAPIView):
    serializer_class = ServiceSerializer

    def get(self, request, service_id: int):
        return Response(self.get_serializer(service_for(request, service_id)).data)

    @extend_schema(request=ServiceSettingsSerializer, responses={200: ServiceSerializer})
    def patch(self, request, service_id: int):
        """Change the service's settings (those given); the next deployment uses them."""
        service = service_for(request, service_id, ADMIN)
        form = ServiceSettingsSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        if "path" in data:
            data["subdirectory"] = data.pop("path")
        if "stop_grace_period" in data and data["stop_grace_period"] is None:
            data["stop_grace_period"] = service_settings.DEFAULT_GRACE
        service_settings.change_settings(service, request.user, **data)
        return Response(self.get_serializer(service_for(request, service_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, service_id: int):
        """Stop and remove the service, its deployments and images."""
        service_settings.remove_service(service_for(request, service_id, ADMIN), request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ServiceAction(generics.GenericAPIView):
    """POST /services/{id}/<action>/: the same controls as the dashboard's buttons."""

    serializer_class = DeploymentSerializer
    control = ""

    @extend_schema(request=None, responses={200: DeploymentSerializer, 204: None})
    def post(self, request, service_id: int):
        service = service_for(request, service_id, DEPLOY)
        result = {
            "redeploy": lambda: actions.request_deploy(service, request.user),
            "stop": lambda: controls.stop(service, request.user),
            "start": lambda: controls.start(service, request.user),
            "restart": lambda: controls.restart(service, request.user),
        }[self.control]()
        if result is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self.get_serializer(result).data)


class ServiceRollback(generics.GenericAPIView):
    serializer_class = RollbackSerializer

    @extend_schema(request=RollbackSerializer, responses={201: DeploymentSerializer})
    def post(self, request, service_id: int):
        """Run an earlier deployment's image again; by default the one before the live one."""
        service = service_for(request, service_id, DEPLOY)
        form = RollbackSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        if form.validated_data.get("deployment"):
            earlier = get_object_or_404(service.deployments, pk=form.validated_data["deployment"])
        else:
            earlier = default_rollback_target(service)
        return _deployed(controls.rollback(service, earlier, request.user))


class ServicePromote(generics.GenericAPIView):
    serializer_class = PromoteSerializer

    @extend_schema(request=PromoteSerializer, responses={201: DeploymentSerializer})
    def post(self, request, service_id: int):
        """Run the live deployment's image in another environment, without rebuilding."""
        service = service_for(request, service_id, DEPLOY)
        form = PromoteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        target = get_object_or_404(
            environments_for(request.user, DEPLOY), pk=form.validated_data["environment"]
        )
        live = service.live_deployment
        if live is None:
            raise actions.ActionError(f"{service.name} has nothing running to promote.")
        return _deployed(controls.promote(live, target, request.user))


class ServiceDeployments(generics.ListAPIView):
    serializer_class = DeploymentSerializer

    def get_queryset(self):
        service = service_for(self.request, self.kwargs["service_id"])
        return service.deployments.select_related("service__environment").order_by("-id")


class ServiceHealthEvents(generics.ListAPIView):
    """What the health monitor did to the service's instances (taken out, restarted, back), newest first."""

    serializer_class = HealthEventSerializer

    def get_queryset(self):
        return service_for(self.request, self.kwargs["service_id"]).health_events.order_by("-id")


class ServiceVariables(VariablesOf):
    find = staticmethod(service_for)
    id_kwarg = "service_id"


class ServiceVariable(generics.GenericAPIView):
    serializer_class = VariableSerializer

    @extend_schema(responses={204: None})
    def delete(self, request, service_id: int, key: str):
        service = service_for(request, service_id, ADMIN)
        if not variables.unset_variable(service, key, by=request.user):
            return Response({"error": f"{key} is not set."}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


_LOG_PARAMETERS = [
    OpenApiParameter("tail", int, description="How many of the last lines (1 to 2000; default 200)."),
    OpenApiParameter("since", float, description="Only lines after this time (seconds since 1970)."),
    OpenApiParameter("grep", str, description="Only lines containing this text (any case)."),
    OpenApiParameter("process", str, description="Whose lines: web (the default), worker, ..."),
]


def _log_params(request) -> tuple[int, float | None, str]:
    from rest_framework.exceptions import ValidationError as Invalid

    try:
        tail = min(max(int(request.query_params.get("tail", "200")), 1), 2000)
        since = float(request.query_params["since"]) if request.query_params.get("since") else None
    except ValueError:
        raise Invalid({"error": "tail and since must be numbers."}) from None
    if since is not None and not 0 <= since <= time.time() + 86400 * 365:
        raise Invalid({"since": "since must be a time in seconds since 1970."})
    return tail, since, request.query_params.get("grep", "")[:200]


def _process_param(request) -> str:
    from rest_framework.exceptions import ValidationError as Invalid

    process = request.query_params.get("process") or "web"
    if not procfile.valid_name(process):
        raise Invalid({"process": "A process type is a Procfile name such as web or worker."})
    return process


@extend_schema(parameters=_LOG_PARAMETERS)
class ServiceLogs(generics.GenericAPIView):
    serializer_class = RuntimeLogSerializer

    def get(self, request, service_id: int):
        """The running instance's own output: the last lines, or those since a time."""
        service = service_for(request, service_id)
        tail, since, grep = _log_params(request)
        process = _process_param(request)
        live = service.live_deployment
        if live is None or live.state != State.RUNNING or not live.instance_id:
            return Response({"running": False, "deployment": None, "lines": []})
        found = runtime_logs.recent(live.pk, tail=tail, since=since, grep=grep, process=process)
        lines = [{"time": line.time, "text": line.text} for line in found]
        return Response({"running": True, "deployment": live.pk, "lines": lines})


@extend_schema(
    parameters=_LOG_PARAMETERS,
    responses={(200, streams.MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description="NDJSON lines")},
)
class ServiceLogsFollow(generics.GenericAPIView):
    renderer_classes = [renderers.JSONRenderer, streams.NDJSONRenderer]

    def get(self, request, service_id: int):
        """Runtime log lines as they are printed, one JSON object per line, until the client leaves."""
        service = service_for(request, service_id)
        tail, since, grep = _log_params(request)
        process = _process_param(request)
        return streams.response(request, streams.runtime_log(service.pk, since, grep, tail, process))
