"""The one question the pipeline asks billing: may this service deploy, with what limits?

Until plans exist every service gets the operator's defaults from settings.
"""

from django.conf import settings

from deployments.runtime import Limits


def limits_for(service) -> Limits:
    return Limits(
        memory_mb=settings.INSTANCE_MEMORY_MB,
        cpus=settings.INSTANCE_CPUS,
        pids=settings.INSTANCE_PIDS,
    )
