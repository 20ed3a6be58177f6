"""The disk a user's kept images take, bounded by TENANT_IMAGES_MB.

Counted over the images of every service in the environments the user owns (a
member deploying there counts against the owner), layer by layer, each layer once
however many of the user's images share it, and without the base images' layers,
which every tenant shares. Checked before a build, so a user at the bound builds
nothing, and after it, so one build cannot carry the user past it for long: the
pipeline removes the new image when the second check refuses.
"""

from collections.abc import Callable

from django.conf import settings

from deployments.errors import UserError
from deployments.models import Service
from deployments.runtime.base import Runtime

MB = 1024 * 1024


def used_bytes(service: Service, runtime: Runtime) -> int:
    owned = Service.objects.filter(environment__owner_id=service.environment.owner_id)
    return runtime.images_disk_use(sorted(owned.values_list("pk", flat=True)))


def check(service: Service, runtime: Runtime, on_line: Callable[[str], None], *, built: bool = False) -> None:
    """Refuse when the owner's images take the bound already (or, once built, more than it)."""
    used, limit = used_bytes(service, runtime), settings.TENANT_IMAGES_MB * MB
    how_much = f"{used / MB:.0f} MB of the {settings.TENANT_IMAGES_MB} MB your account's images may take"
    remedy = (
        "Delete services you no longer need (their images go with them), or ask the operator "
        "to raise TENANT_IMAGES_MB."
    )
    if built and used > limit:
        raise UserError(f"This build's image would bring your images to {how_much}; it is not kept. {remedy}")
    if not built and used >= limit:
        raise UserError(f"Your images take {how_much}, so nothing more is built. {remedy}")
    if not built:
        on_line(f"==> Disk: your images take {how_much}")
