"""Environments, their members and their variables. Thin: every change is an action."""

from collections.abc import Callable

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from api.serializers import (
    EnvironmentCreateSerializer,
    EnvironmentSerializer,
    MemberCreateSerializer,
    MemberSerializer,
    VariableSerializer,
    VariableSetSerializer,
)
from deployments import variables
from environments import actions
from environments.access import ADMIN, VIEW, environments_for


def environment_for(request, environment_id: int, need: str = VIEW):
    return get_object_or_404(environments_for(request.user, need), pk=environment_id)


@extend_schema(
    parameters=[
        OpenApiParameter("name", str, description="Only environments of this name."),
        OpenApiParameter("deleted", bool, description="Include your deleted environments."),
    ]
)
class EnvironmentList(generics.ListCreateAPIView):
    serializer_class = EnvironmentSerializer

    def get_queryset(self):
        environments = environments_for(self.request.user).select_related("owner").order_by("name", "id")
        if self.request.query_params.get("deleted", "").lower() not in ("1", "true", "yes"):
            environments = environments.filter(deleted_at__isnull=True)
        if name := self.request.query_params.get("name"):
            # Postgres refuses a NUL in text, and no name holds one: nothing matches.
            environments = environments.filter(name=name) if "\x00" not in name else environments.none()
        return environments

    @extend_schema(request=EnvironmentCreateSerializer, responses={201: EnvironmentSerializer})
    def post(self, request):
        form = EnvironmentCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        if data.get("copy_from"):
            data["copy_from"] = environment_for(request, data["copy_from"])
        environment = actions.create_environment(request.user, **data)
        return Response(self.get_serializer(environment).data, status=status.HTTP_201_CREATED)


class EnvironmentDetail(generics.GenericAPIView):
    serializer_class = EnvironmentSerializer

    def get(self, request, environment_id: int):
        return Response(self.get_serializer(environment_for(request, environment_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, environment_id: int):
        environment = environment_for(request, environment_id, ADMIN)
        actions.delete_environment(environment, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberList(generics.ListCreateAPIView):
    serializer_class = MemberSerializer

    def get_queryset(self):
        environment = environment_for(self.request, self.kwargs["environment_id"])
        return environment.memberships.select_related("user").order_by("id")

    @extend_schema(request=MemberCreateSerializer, responses={201: MemberSerializer})
    def post(self, request, environment_id: int):
        environment = environment_for(request, environment_id, ADMIN)
        form = MemberCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        membership = actions.add_member(environment, by=request.user, **form.validated_data)
        return Response(self.get_serializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetail(generics.GenericAPIView):
    serializer_class = MemberSerializer

    @extend_schema(responses={204: None})
    def delete(self, request, environment_id: int, membership_id: int):
        environment = environment_for(request, environment_id, ADMIN)
        actions.remove_member(environment, membership_id, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VariablesOf(generics.ListCreateAPIView):
    """Shared by environments and services: secrets are written, never read back."""

    serializer_class = VariableSerializer
    # What the variables belong to, set by each subclass: find(request, id, need),
    # checked against the person asking, with the id from the URL's `id_kwarg`.
    find: Callable
    id_kwarg: str

    def target(self, need: str = VIEW):
        return self.find(self.request, self.kwargs[self.id_kwarg], need)

    def get_queryset(self):
        return variables.shown(self.target())

    @extend_schema(request=VariableSetSerializer, responses={201: VariableSerializer})
    def post(self, request, **kwargs):
        target = self.target(ADMIN)
        form = VariableSetSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        variables.set_variable(target, data["key"], data["value"], secret=data["secret"], by=request.user)
        shown = next(v for v in variables.shown(target) if v.key == data["key"])
        return Response(self.get_serializer(shown).data, status=status.HTTP_201_CREATED)


class EnvironmentVariables(VariablesOf):
    find = staticmethod(environment_for)
    id_kwarg = "environment_id"


class EnvironmentVariable(generics.GenericAPIView):
    serializer_class = VariableSerializer

    @extend_schema(responses={204: None})
    def delete(self, request, environment_id: int, key: str):
        environment = environment_for(request, environment_id, ADMIN)
        if not variables.unset_variable(environment, key, by=request.user):
            return Response({"error": f"{key} is not set."}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)
