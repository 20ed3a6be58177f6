"""One-off commands and cron jobs: start a run and follow its output; add, list and remove jobs."""

import asyncio
import time
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.db import connections, transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, renderers, serializers, status
from rest_framework.response import Response

from api import streams
from api.views_services import service_for
from environments.access import DEPLOY
from jobs import actions, run_logs
from jobs.access import cron_jobs_for, runs_for
from jobs.models import CronJob, JobRun

_KEEPALIVE = 15.0


class RunSerializer(serializers.ModelSerializer):
    service_name = serializers.CharField(source="service.name", read_only=True)
    duration = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = JobRun
        fields = [
            "id", "service", "service_name", "cron_job", "command", "state", "detail", "exit_code",
            "created_at", "due_at", "started_at", "finished_at", "duration",
        ]  # fmt: skip
        read_only_fields = fields


class RunLogSerializer(RunSerializer):
    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "log"]
        read_only_fields = fields


class RunCommandSerializer(serializers.Serializer):
    # Longer than the action allows, so an over-long command hears the action's own words.
    command = serializers.CharField(max_length=100_000, trim_whitespace=False)


class CronJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = CronJob
        fields = [
            "id",
            "service",
            "schedule",
            "command",
            "policy",
            "timeout",
            "enabled",
            "next_run_at",
            "created_at",
        ]
        read_only_fields = ["id", "service", "enabled", "next_run_at", "created_at"]
        extra_kwargs = {
            "schedule": {"max_length": 1000, "validators": []},
            "command": {"max_length": 100_000, "trim_whitespace": False},
            "policy": {"required": False},
            "timeout": {"required": False, "min_value": None, "max_value": None},
        }


class ServiceRun(generics.GenericAPIView):
    serializer_class = RunCommandSerializer

    @extend_schema(request=RunCommandSerializer, responses={201: RunSerializer})
    def post(self, request, service_id: int):
        """Run a command in a one-off container of the live image; follow it at runs/{id}/log/follow/."""
        service = service_for(request, service_id, DEPLOY)
        form = RunCommandSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        with transaction.atomic():
            run = actions.run_command(service, form.validated_data["command"], request.user)
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetail(generics.RetrieveAPIView):
    serializer_class = RunLogSerializer
    lookup_url_kwarg = "run_id"

    def get_queryset(self):
        return runs_for(self.request.user)


@extend_schema(
    responses={(200, streams.MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description="NDJSON lines")},
)
class RunLogFollow(generics.GenericAPIView):
    renderer_classes = [renderers.JSONRenderer, streams.NDJSONRenderer]

    def get(self, request, run_id: int):
        """The run's output as it is printed ({"text"}), ending with {"run": ...} once it has ended."""
        run = get_object_or_404(runs_for(request.user), pk=run_id)
        return streams.response(request, _follow(run.pk))


def _settled(run_id: int) -> dict | None:
    try:
        run = JobRun.objects.select_related("service").get(pk=run_id)
        return RunSerializer(run).data if run.settled else None
    finally:
        connections.close_all()


async def _follow(run_id: int) -> AsyncIterator[bytes]:
    """Lines from the run's stream; the row is asked every second whether it has ended.
    The worker writes the last line before the final state, so none is missed."""
    cursor = "0-0"
    quiet_since = time.monotonic()
    lines_after = sync_to_async(run_logs.lines_after, thread_sensitive=False)
    while True:
        ended = await sync_to_async(_settled, thread_sensitive=False)(run_id)
        while batch := await lines_after(run_id, cursor, 1000):
            for line in batch:
                cursor = line.id
                quiet_since = time.monotonic()
                yield streams.NDJSONRenderer().render({"text": line.text})
            if len(batch) < 1000:
                break
        if ended is not None:
            yield streams.NDJSONRenderer().render({"run": ended})
            return
        if time.monotonic() - quiet_since > _KEEPALIVE:  # proxies keep a stream that says something
            quiet_since = time.monotonic()
            yield b"\n"
        await asyncio.sleep(0.3)


class ServiceCronJobs(generics.ListCreateAPIView):
    serializer_class = CronJobSerializer

    def get_queryset(self):
        return cron_jobs_for(self.request.user).filter(
            service=service_for(self.request, self.kwargs["service_id"])
        )

    def create(self, request, service_id: int):
        """Add a cron job: five cron fields (UTC), a command, a policy (forbid, replace, allow), a limit."""
        service = service_for(request, service_id, DEPLOY)
        form = CronJobSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        with transaction.atomic():
            job = actions.add_cron_job(
                service, request.user, schedule=data["schedule"], command=data["command"],
                policy=data.get("policy", CronJob.Policy.FORBID), timeout=data.get("timeout"),
            )  # fmt: skip
        return Response(CronJobSerializer(job).data, status=status.HTTP_201_CREATED)


class CronJobPauseSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="false pauses the job; true resumes it from its next time.")


class CronJobDetail(generics.RetrieveDestroyAPIView):
    serializer_class = CronJobSerializer
    lookup_url_kwarg = "job_id"

    def get_queryset(self):
        return cron_jobs_for(self.request.user)

    @extend_schema(request=CronJobPauseSerializer, responses={200: CronJobSerializer})
    def patch(self, request, job_id: int):
        """Pause or resume the job."""
        job = get_object_or_404(cron_jobs_for(request.user, DEPLOY), pk=job_id)
        form = CronJobPauseSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        with transaction.atomic():
            job = actions.set_cron_job_enabled(job, form.validated_data["enabled"], request.user)
        return Response(CronJobSerializer(job).data)

    def destroy(self, request, job_id: int):
        job = get_object_or_404(cron_jobs_for(request.user, DEPLOY), pk=job_id)
        with transaction.atomic():
            actions.remove_cron_job(job, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CronJobRuns(generics.ListAPIView):
    serializer_class = RunSerializer

    def get_queryset(self):
        job = get_object_or_404(cron_jobs_for(self.request.user), pk=self.kwargs["job_id"])
        return runs_for(self.request.user).filter(cron_job=job)
