"""What the pipeline needs from a container runtime, and the errors it speaks."""

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from deployments.errors import UserError


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpus: float
    pids: int


@dataclass(frozen=True)
class InstanceSpec:
    service_id: int
    environment_id: int
    deployment_id: int
    alias: str  # the name other services of the environment reach it by
    image: str
    port: int
    variables: dict[str, str] = field(default_factory=dict)
    limits: Limits = Limits(512, 1.0, 256)
    command: tuple[str, ...] = ()  # instead of the image's CMD
    one_off: bool = False  # runs to its end (the release command): no port, no restart
    stop_grace: int | None = None  # seconds from SIGTERM to SIGKILL; None: STOP_TIMEOUT
    # The Procfile's process type and the replica's number. Only `web` gets the port
    # and the alias; the others run without either, restarted by the engine when they exit.
    process: str = "web"
    index: int = 0

    @property
    def serves(self) -> bool:
        return self.process == "web" and not self.one_off


@dataclass(frozen=True)
class Instance:
    id: str
    host_port: int


@dataclass(frozen=True)
class InstanceState:
    running: bool
    exit_code: int | None = None
    oom_killed: bool = False
    restarting: bool = False  # exited, and the engine starts it again after a backoff
    restarts: int = 0  # how often the engine started it again

    def describe(self) -> str:
        if self.running:
            return "running"
        if self.oom_killed:
            return "was stopped because it ran out of memory"
        return f"exited with code {self.exit_code}"


class BuildFailed(UserError):
    pass


class AppExited(UserError):
    """The app's process ended before its port could even be published: its own failure."""

    def __init__(self, message: str, output: list[str], state: "InstanceState | None" = None) -> None:
        super().__init__(message)
        self.output = output
        self.state = state


@dataclass(frozen=True)
class Found:
    """One instance the engine has under this installation's labels, as the reconciler sees it."""

    id: str
    deployment_id: int | None
    service_id: int | None
    environment_id: int | None
    running: bool
    process: str = "web"


class BuildTimedOut(UserError):
    pass


@dataclass(frozen=True)
class ImageInfo:
    """An image on the engine, as deployments/image_policy.py judges it."""

    id: str  # "sha256:<64 hex>"
    tags: tuple[str, ...] = ()
    onbuild: bool = False  # it has ONBUILD triggers, which would run in a build FROM it


LineSink = Callable[[str], None]


class Runtime(Protocol):
    def build(
        self,
        service_id: int,
        deployment_id: int,
        context: Path,
        dockerfile: str,
        on_line: LineSink,
        timeout: float,
        memory_mb: int,
        stop: threading.Event | None = None,
    ) -> str:
        """Build an image and return its tag; BuildFailed/BuildTimedOut on user errors.

        `dockerfile` is the Dockerfile's text, sent with the context, never written into it.
        """

    def start(self, spec: InstanceSpec) -> Instance: ...

    def state(self, instance_id: str) -> InstanceState: ...

    def tail(self, instance_id: str, lines: int) -> list[str]: ...

    def keep_restarting(self, instance_id: str) -> None: ...

    def remove(self, instance_id: str) -> None: ...

    def remove_image(self, tag: str) -> None: ...

    def tag_image(self, image: str, service_id: int, deployment_id: int) -> str:
        """Give an image a tag in the service's own repository; return the tag."""

    def remove_deployment(self, deployment_id: int) -> None:
        """Remove every container of a deployment (the reaper's broom)."""

    def prune_images(self, service_id: int, keep: set[str]) -> list[str]:
        """Remove the service's images but those in `keep`; return the removed tags."""

    # What a build may use (deployments/image_policy.py) and the disk it takes (tenant_disk.py).
    def app_image_repository(self, service_id: int) -> str: ...

    def service_images(self, service_id: int) -> list[ImageInfo]: ...

    def base_images(self) -> list[ImageInfo]:
        """Every local image under BASE_IMAGE_PREFIX/."""

    def image_info(self, ref: str) -> ImageInfo | None: ...

    def pull_image(self, ref: str) -> ImageInfo | None:
        """None when the registry does not give it."""

    def images_disk_use(self, service_ids: list[int]) -> int:
        """Bytes of the distinct layers of these services' images, base images' layers left out."""

    def ensure_network(self, environment_id: int) -> str: ...

    def remove_network(self, environment_id: int) -> None: ...

    def remove_environment(self, environment_id: int) -> None: ...

    def restart(self, instance_id: str) -> int | None:
        """Stop and start the instance again; its published port, which may have changed."""

    def listening_ports(self, instance_id: str) -> list[int]:
        """The TCP ports the instance listens on, for a hint when it does not answer."""

    # What the reconciler compares with the database; every object here carries our labels.
    def instances(self) -> list[Found]: ...

    def networks(self) -> list[int]:
        """The environment ids that have a network."""

    def images(self) -> dict[int, list[str]]:
        """{service id: [tag, ...]} of every app image."""

    def addresses(self) -> dict[str, str]:
        """{instance id: "ip:port"} of every running instance, where the proxy reaches it directly."""

    def logs(self, instance_id: str, *, tail: int, since: float | None = None) -> list[tuple[str, str]]:
        """(timestamp, line) pairs of the instance's own output, oldest first."""

    def follow_logs(self, instance_id: str, *, since: float | None, tail: int) -> Iterator[tuple[str, str]]:
        """The same, as they are printed, until the instance stops (the log collector's source)."""

    def running_instances(self) -> dict[str, int]:
        """{instance id: deployment id} of every running instance."""

    def running_processes(self) -> dict[str, tuple[int, str, int]]:
        """{instance id: (deployment id, process type, replica)} of every running instance."""

    def engine_id(self) -> str: ...
