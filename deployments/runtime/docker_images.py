"""The engine's side of what a build may use: look images up, pull, measure.

Called by DockerRuntime only; deployments/image_policy.py decides which names
are asked about, and deployments/tenant_disk.py what the sizes mean.
"""

from docker import DockerClient
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.images import Image

from deployments.runtime.base import ImageInfo

MISSING = "<missing>"  # the history's word for a layer whose image is not kept locally


def _info(image: Image) -> ImageInfo:
    config = image.attrs.get("Config") or {}
    return ImageInfo(id=image.id, tags=tuple(image.tags), onbuild=bool(config.get("OnBuild")))


def info(client: DockerClient, ref: str) -> ImageInfo | None:
    try:
        return _info(client.images.get(ref))
    except (ImageNotFound, NotFound):
        return None
    except APIError as exc:
        if exc.is_server_error():
            raise
        return None  # a name the engine cannot parse names no image


def named(client: DockerClient, pattern: str) -> list[ImageInfo]:
    """Local images whose name matches the engine's reference filter, e.g. 'm3o-base/*'."""
    return [_info(image) for image in client.images.list(name=pattern)]


def pull(client: DockerClient, ref: str) -> ImageInfo | None:
    """Pull from its registry; None when it cannot be had (unknown, refused, unreachable)."""
    try:
        client.images.pull(ref)
    except (APIError, ImageNotFound, NotFound):
        return None
    return info(client, ref)


def layer_ids(client: DockerClient, image_id: str) -> dict[str, int]:
    """{layer image id: bytes it adds} down the image's history, the image itself included."""
    try:
        history = client.api.history(image_id)
    except (ImageNotFound, NotFound):
        return {}
    return {entry["Id"]: int(entry.get("Size") or 0) for entry in history if entry.get("Id") != MISSING}
