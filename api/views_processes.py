"""A service's process types (`m3o ps`): the live deployment's web, worker, clock, ... with
their instances, state and restarts, as the worker last read them from the engine."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.response import Response

from api.views_services import service_for
from deployments import processes, scaling
from environments.access import DEPLOY


class InstanceSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The replica's number, from 1.")
    state = serializers.CharField()
    restarts = serializers.IntegerField()
    exit_code = serializers.IntegerField(allow_null=True, help_text="Of its last exit, when it exited.")
    started_at = serializers.DateTimeField()


class ProcessSerializer(serializers.Serializer):
    type = serializers.CharField(source="name")
    command = serializers.CharField(help_text="Empty: the image's own command.")
    replicas = serializers.IntegerField()
    running = serializers.IntegerField(help_text="How many of its instances run now.")
    state = serializers.CharField()
    restarts = serializers.IntegerField(help_text="Restarts of its instances, added up.")
    instances = serializers.SerializerMethodField()

    @extend_schema_field(InstanceSerializer(many=True))
    def get_instances(self, row) -> list[dict]:
        return [
            {
                "index": instance.index + 1,
                "state": instance.state,
                "restarts": instance.restarts,
                "exit_code": instance.exit_code,
                "started_at": instance.started_at,
            }
            for instance in row.instances
        ]


class ServiceProcesses(generics.GenericAPIView):
    serializer_class = ProcessSerializer
    pagination_class = None

    @extend_schema(responses=ProcessSerializer(many=True))
    def get(self, request, service_id: int):
        """The process types of what runs now (empty when nothing runs), web first."""
        service = service_for(request, service_id)
        return Response(ProcessSerializer(processes.for_service(service), many=True).data)


class ServiceScale(generics.GenericAPIView):
    serializer_class = ProcessSerializer
    pagination_class = None

    @extend_schema(
        request={"application/json": {"type": "object", "additionalProperties": {"type": "integer"}}},
        responses={202: ProcessSerializer(many=True)},
    )
    def post(self, request, service_id: int):
        """Set the replicas of process types of what runs now; a worker starts and stops them
        (web replicas health-gated in, drained out). Answers with the process types as they are."""
        service = service_for(request, service_id, DEPLOY)
        scaling.scale(service, request.user, request.data)
        return Response(ProcessSerializer(processes.for_service(service), many=True).data, status=202)
