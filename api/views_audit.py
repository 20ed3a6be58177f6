"""The audit log over the API: what `m3o audit` prints."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from environments.access import ADMIN, environments_for
from environments.audit import events_for
from environments.models import Event


class EventSerializer(serializers.ModelSerializer):
    user = serializers.SerializerMethodField()
    environment_name = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = ["id", "created_at", "user", "address", "environment", "environment_name"]
        fields += ["action", "detail", "changes"]

    def get_user(self, event: Event) -> str | None:
        return event.user_email or None  # as it was then, kept after the person is deleted

    def get_environment_name(self, event: Event) -> str | None:
        return event.environment_name or None


@extend_schema(
    parameters=[
        OpenApiParameter(
            "environment", int, description="Only this environment's events (you must own or administer it)."
        )
    ]
)
class EventList(generics.ListAPIView):
    """Changes, newest first: of the environments you own or administer, and of your account."""

    serializer_class = EventSerializer

    def get_queryset(self):
        environment = None
        wanted = self.request.query_params.get("environment")
        if wanted:
            if not wanted.isdigit():
                raise serializers.ValidationError({"environment": "Give an environment's id."})
            environment = get_object_or_404(environments_for(self.request.user, ADMIN), pk=int(wanted))
        return events_for(self.request.user, environment).order_by("-id")
