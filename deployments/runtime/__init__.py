"""The one place that talks to the container engine. Pick an implementation by setting."""

from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from deployments.runtime.base import (
    AppExited,
    BuildFailed,
    BuildTimedOut,
    Found,
    Instance,
    InstanceSpec,
    InstanceState,
    Limits,
    Runtime,
)

__all__ = [
    "AppExited",
    "BuildFailed",
    "BuildTimedOut",
    "Found",
    "Instance",
    "InstanceSpec",
    "InstanceState",
    "Limits",
    "Runtime",
    "get_runtime",
]


@cache
def get_runtime() -> Runtime:
    if settings.RUNTIME_BACKEND == "docker":
        from deployments.runtime.docker import DockerRuntime

        return DockerRuntime()
    raise ImproperlyConfigured(f"Unknown RUNTIME_BACKEND {settings.RUNTIME_BACKEND!r}")
