"""The base image for a language version: from a registry when the operator
names one, otherwise built from Debian's packages the first time a repository
needs it (by scripts/build-base-images.sh, which caches it by tag)."""

import subprocess
import time
from collections.abc import Callable

import docker
from django.conf import settings
from docker.errors import DockerException, ImageNotFound

from deployments.errors import PlatformError
from deployments.versions import DEFAULT_GO, DEFAULT_PYTHON, Choice

SCRIPT = settings.BASE_DIR / "scripts" / "build-base-images.sh"


def _template(choice: Choice) -> str:
    return settings.PYTHON_IMAGE_TEMPLATE if choice.language == "python" else settings.GO_IMAGE_TEMPLATE


def image_for(choice: Choice) -> str:
    if _template(choice):
        return _template(choice).format(version=choice.version)
    if choice.version == {"python": DEFAULT_PYTHON, "go": DEFAULT_GO}[choice.language]:
        return settings.BASE_IMAGES[choice.language]
    return f"{settings.BASE_IMAGE_PREFIX}/{choice.language}:{choice.suite}"


def _exists(tag: str) -> bool:
    try:
        docker.from_env().images.get(tag)
        return True
    except ImageNotFound:
        return False
    except DockerException as exc:
        raise PlatformError(f"The container engine could not be asked for {tag}: {exc}") from None


def ensure(choice: Choice, on_line: Callable[[str], None]) -> str:
    """The image to build FROM, built here first if this machine lacks it."""
    image = image_for(choice)
    if _template(choice) or _exists(image):
        return image
    name = {"python": "Python", "go": "Go"}[choice.language]
    # Go's on bookworm, its standard library compiled in (scripts/build-base-images.sh says why).
    source = f"Debian {choice.suite}" + ("'s Go packages" if choice.language == "go" else "")
    on_line(
        f"==> First use of {name} {choice.version} on this platform: building base image {image} "
        f"from {source} (once; later builds reuse it)"
    )
    started = time.monotonic()
    command = [str(SCRIPT), "--suite", choice.suite, "--only", choice.language]
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    env["BASE_IMAGE_PREFIX"] = settings.BASE_IMAGE_PREFIX
    if settings.BUILD_CA_BUNDLE:
        env["BUILD_CA_BUNDLE"] = settings.BUILD_CA_BUNDLE
    try:
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=settings.BASE_IMAGE_BUILD_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise PlatformError(f"Building base image {image} took too long.") from None
    if result.returncode != 0 or not _exists(image):
        tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise PlatformError(f"Building base image {image} failed: {tail[-1500:]}")
    on_line(f"==> Built base image {image} in {time.monotonic() - started:.0f} s")
    return image
