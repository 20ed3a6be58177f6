"""The device sign-in's two API endpoints (for the CLI) and its page (for the person)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from api import device
from portal.client_address import address

_DEVICE_ERROR = inline_serializer(
    "DeviceError", {"error": serializers.CharField(), "error_description": serializers.CharField()}
)


@extend_schema(
    request=inline_serializer("DeviceStart", {"client_name": serializers.CharField(required=False)}),
    responses={
        200: inline_serializer(
            "DeviceCodes",
            {
                "device_code": serializers.CharField(),
                "user_code": serializers.CharField(),
                "verification_uri": serializers.URLField(),
                "verification_uri_complete": serializers.URLField(),
                "expires_in": serializers.IntegerField(),
                "interval": serializers.IntegerField(),
            },
        ),
        429: OpenApiResponse(_DEVICE_ERROR, description="Too many sign-ins started from this address."),
    },
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def start(request):
    """Start a browser sign-in: show `user_code` and `verification_uri` to the person, then poll."""
    name = request.data.get("client_name") if isinstance(request.data, dict) else None
    try:
        login, device_code = device.start(str(name or ""), address(request))
    except device.DeviceError as exc:
        return Response({"error": exc.code, "error_description": str(exc)}, status=429)
    page = request.build_absolute_uri(reverse("device"))
    return Response(
        {
            "device_code": device_code,
            "user_code": login.user_code,
            "verification_uri": page,
            "verification_uri_complete": f"{page}?code={login.user_code}",
            "expires_in": int(device.LIFETIME.total_seconds()),
            "interval": device.INTERVAL,
        }
    )


@extend_schema(
    request=inline_serializer("DevicePoll", {"device_code": serializers.CharField()}),
    responses={
        200: inline_serializer(
            "DeviceToken", {"access_token": serializers.CharField(), "token_type": serializers.CharField()}
        ),
        400: OpenApiResponse(_DEVICE_ERROR, description="Not approved yet, denied, expired or unknown."),
    },
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def token(request):
    """Poll for the token: 400 with `error` authorization_pending / slow_down until approved."""
    code = request.data.get("device_code") if isinstance(request.data, dict) else None
    try:
        raw = device.collect(str(code or "")[:200])
    except device.DeviceError as exc:
        return Response({"error": exc.code, "error_description": str(exc)}, status=400)
    return Response({"access_token": raw, "token_type": "Bearer"})


@login_required
def page(request):
    """Type (or follow a link with) the code; see which device asks; approve or deny it."""
    code = request.POST.get("code") or request.GET.get("code") or ""
    context = {"code": device.normalise(code) or code[:20]}
    status = 200
    if code:
        answer = request.POST.get("answer")
        try:
            if request.method == "POST" and answer == "approve":
                context["approved"] = device.approve(request.user, code)
            elif request.method == "POST" and answer == "deny":
                context["denied"] = device.deny(request.user, code)
            else:
                context["login"] = device.pending(request.user, code)
        except device.DeviceError as exc:
            context["error"] = str(exc)
            status = 429 if exc.code == "slow_down" else 400
    return render(request, "api/device.html", context, status=status)
