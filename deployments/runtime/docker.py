"""The Docker engine behind the Runtime interface: names, labels, limits, cleanup.

Nothing else in the project imports `docker`. Engine trouble becomes a
PlatformError (retried); what the user's code did becomes a UserError.
"""

import codecs
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import docker
import requests
from django.conf import settings
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import EndpointConfig, IPAMConfig, IPAMPool, LogConfig
from docker.utils import tar
from docker.utils.json_stream import json_stream

from deployments import tree
from deployments.errors import Cancelled, PlatformError, UserError
from deployments.hints import listening_ports
from deployments.runtime import docker_images, subnets
from deployments.runtime.base import (
    AppExited,
    BuildFailed,
    BuildTimedOut,
    Found,
    ImageInfo,
    Instance,
    InstanceSpec,
    InstanceState,
    LineSink,
)
from deployments.runtime.cgroups import BuildCgroup, BuildLimits, engine_supports, explain
from portal import locks

log = logging.getLogger(__name__)

LABEL = "org.m3o"
_NETWORK_ATTEMPTS = 32  # each failed try means another worker just got a subnet

# The classic builder answers 500 to these, yet they are about the user's Dockerfile or context.
_USER_BUILD_ERRORS = (
    "cannot locate specified dockerfile",
    "dockerfile parse error",
    "unknown instruction",
    "cannot be empty",
    "forbidden path outside the build context",
)
# An engine stopping or failing under a build sends these as the build's error, though
# no step of the user's failed: the platform's error, tried again.
_ENGINE_BUILD_ERRORS = (
    "context canceled",
    "libnetwork",
    "failed to update the store state",
    "daemon is shutting down",
    "transport is closing",
    "containerd",
    "error creating overlay mount",
)


GRACE_LABEL = f"{LABEL}.stop-grace"


def _labels(**ids: int) -> dict[str, str]:
    labels = {f"{LABEL}.platform": settings.PLATFORM_NAME}
    labels.update({f"{LABEL}.{key}": str(value) for key, value in ids.items()})
    return labels


def _grace_label(spec: InstanceSpec) -> dict[str, str]:
    """Every stop of the instance (a removal, a restart, by whichever worker) gives its app this
    long after SIGTERM: its service's grace period when it started."""
    return {GRACE_LABEL: str(settings.STOP_TIMEOUT if spec.stop_grace is None else spec.stop_grace)}


def _filters(**ids: int) -> dict[str, list[str]]:
    return {"label": [f"{k}={v}" for k, v in _labels(**ids).items()]}


def image_repository(service_id: int) -> str:
    return f"{settings.PLATFORM_NAME}-app/s{service_id}"


def network_name(environment_id: int) -> str:
    return f"{settings.PLATFORM_NAME}-env-{environment_id}"


@contextmanager
def _engine_errors(doing: str):
    """Turn the engine being away or broken into a PlatformError."""
    try:
        yield
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise PlatformError(f"The container engine could not be reached while {doing}: {exc}") from exc
    except APIError as exc:
        if exc.is_server_error():
            raise PlatformError(f"The container engine failed while {doing}: {exc.explanation}") from exc
        raise
    except DockerException as exc:
        raise PlatformError(f"The container engine could not be reached while {doing}: {exc}") from exc


def _raw_socket(response: requests.Response) -> socket.socket | None:
    raw = getattr(getattr(getattr(response.raw, "_fp", None), "fp", None), "raw", None)
    return getattr(raw, "_sock", raw)


class _Lines:
    """Split the build's stream text into whole lines."""

    def __init__(self, sink: LineSink) -> None:
        self.sink = sink
        self.pending = ""

    def feed(self, text: str) -> None:
        self.pending += text.replace("\r\n", "\n")
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line.strip():
                self.sink(line.rstrip())

    def flush(self) -> None:
        if self.pending.strip():
            self.sink(self.pending.rstrip())
        self.pending = ""


class DockerRuntime:
    def __init__(self) -> None:
        self._client: docker.DockerClient | None = None
        self._cgroup_version: int | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                with _engine_errors("connecting"):
                    self._client = docker.from_env(timeout=60)
            return self._client

    # --- images ------------------------------------------------------------

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
        cgroup = self._build_cgroup(deployment_id, memory_mb)
        try:
            return self._build(service_id, deployment_id, context, dockerfile, on_line, timeout, memory_mb,
                               stop, cgroup)  # fmt: skip
        finally:
            if cgroup is not None:
                cgroup.remove()

    def _build_cgroup(self, deployment_id: int, memory_mb: int) -> BuildCgroup | None:
        """The build's own cgroup with its limits (see cgroups.py), or None when builds are not confined."""
        if not settings.BUILD_CONFINED:
            return None
        if self._cgroup_version is None:
            with _engine_errors("asking the engine how it runs containers"):
                self._cgroup_version = engine_supports(self.client.info())
        limits = BuildLimits(memory_mb, settings.BUILD_PIDS, settings.BUILD_CPUS, settings.BUILD_CPU_SHARES)
        cgroup = BuildCgroup(settings.PLATFORM_NAME, deployment_id, limits, self._cgroup_version)
        cgroup.create()
        return cgroup

    def _build(
        self,
        service_id: int,
        deployment_id: int,
        context: Path,
        dockerfile: str,
        on_line: LineSink,
        timeout: float,
        memory_mb: int,
        stop: threading.Event | None,
        cgroup: BuildCgroup | None,
    ) -> str:
        tag = f"{image_repository(service_id)}:d{deployment_id}"
        api = self.client.api
        memory = str(memory_mb * 1024 * 1024)
        # Confined, the build's cgroup holds the limits of all steps together and its
        # counters tell which one a failed step hit; else each step gets the memory, no swap.
        limits = {"cgroupparent": cgroup.parent} if cgroup else {"memory": memory, "memswap": memory}
        params = {
            "t": tag,
            "dockerfile": DOCKERFILE_NAME,
            "rm": "1",
            "forcerm": "1",
            "pull": "",
            **limits,
            # No build labels: the classic builder turns each into an extra
            # step that never hits the cache. Images are known by their name.
        }
        # The Dockerfile travels inside the tar only: a file or link of that name in the
        # checkout is left out, and the name is ignored by COPY, so it never reaches the image.
        context_tar = tar(
            str(context), exclude=_dockerignore(context), dockerfile=(DOCKERFILE_NAME, dockerfile)
        )
        with _engine_errors("sending the build context"), context_tar as body:
            response = api.post(
                f"{api.base_url}/v{api.api_version}/build",
                params=params,
                data=body,
                headers={"Content-Type": "application/tar"},
                stream=True,
                timeout=None,
            )
            self._raise_status(response, "starting the build")
        watchdog = _Watchdog(response, timeout, stop or threading.Event())
        watchdog.start()
        lines = _Lines(on_line)
        try:
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            chunks = (decoder.decode(c) for c in response.iter_content(chunk_size=None))
            for item in json_stream(chunks):
                if "stream" in item:
                    lines.feed(item["stream"])
                elif "error" in item:
                    lines.flush()
                    self._raise_if_engine_gave_way(item["error"].strip())
                    raise BuildFailed(explain(item["error"].strip(), cgroup, memory_mb))
        except (requests.exceptions.RequestException, OSError, ValueError) as exc:
            watchdog.raise_if_fired(timeout)
            raise PlatformError(
                f"The connection to the container engine broke during the build: {exc}"
            ) from exc
        finally:
            watchdog.finish()
            response.close()
        lines.flush()
        if not self._image_exists(tag):
            watchdog.raise_if_fired(timeout)
            raise BuildFailed("The build ended without producing an image.")
        return tag

    def _raise_if_engine_gave_way(self, error: str) -> None:
        """A build's error that is the engine's, not a failing step's.

        A stopping engine closes its API first, then kills the build's step: the step
        "returned a non-zero code" while nobody answers any more. A step that fails on
        its own says so with the user's command in the text, so the markers below are
        not looked for there.
        """
        try:
            self.client.ping()
        except (requests.exceptions.RequestException, DockerException) as exc:
            raise PlatformError(f"The container engine went away during the build: {error}") from exc
        if error.startswith("The command '") or "returned a non-zero code" in error:
            return
        if any(marker in error.lower() for marker in _ENGINE_BUILD_ERRORS):
            raise PlatformError(f"The container engine failed during the build: {error}")

    @staticmethod
    def _raise_status(response: requests.Response, doing: str) -> None:
        if response.status_code >= 500 and any(m in response.text.lower() for m in _USER_BUILD_ERRORS):
            raise BuildFailed(f"The build was refused: {_message(response)}")
        if response.status_code >= 500:
            raise PlatformError(f"The container engine failed while {doing}: {response.text[:500]}")
        if response.status_code >= 400:
            raise BuildFailed(f"The build was refused: {_message(response)}")

    def _image_exists(self, tag: str) -> bool:
        with _engine_errors("looking up an image"):
            try:
                self.client.images.get(tag)
            except ImageNotFound:
                return False
        return True

    def image_exists(self, tag: str) -> bool:
        return self._image_exists(tag)

    def remove_image(self, tag: str) -> None:
        # noprune keeps the parent layers: they are the next build's cache.
        with _engine_errors("removing an image"):
            try:
                self.client.images.remove(tag, noprune=True)
            except NotFound:
                pass
            except APIError as exc:
                log.warning("image %s not removed: %s", tag, exc.explanation)

    def tag_image(self, image: str, service_id: int, deployment_id: int) -> str:
        repository, tag = image_repository(service_id), f"d{deployment_id}"
        with _engine_errors("tagging an image"):
            try:
                self.client.images.get(image).tag(repository, tag=tag)
            except ImageNotFound:
                raise UserError(f"The image {image} no longer exists; deploy again to rebuild it.") from None
        return f"{repository}:{tag}"

    def prune_images(self, service_id: int, keep: set[str]) -> list[str]:
        removed = []
        with _engine_errors("pruning images"):
            repository = image_repository(service_id)
            for image in self.client.images.list(name=repository):
                # Two services that built the same bytes share one image: only this one's tags go.
                for tag in image.tags:
                    if tag.rpartition(":")[0] == repository and tag not in keep:
                        self.remove_image(tag)
                        removed.append(tag)
        return removed

    # --- what builds may use (deployments/image_policy.py decides) ----------

    def app_image_repository(self, service_id: int) -> str:
        return image_repository(service_id)

    def service_images(self, service_id: int) -> list[ImageInfo]:
        with _engine_errors("listing the service's images"):
            return docker_images.named(self.client, image_repository(service_id))

    def base_images(self) -> list[ImageInfo]:
        with _engine_errors("listing the base images"):
            return docker_images.named(self.client, f"{settings.BASE_IMAGE_PREFIX}/*")

    def image_info(self, ref: str) -> ImageInfo | None:
        with _engine_errors("looking up an image"):
            return docker_images.info(self.client, ref)

    def pull_image(self, ref: str) -> ImageInfo | None:
        with _engine_errors("pulling an image"):
            return docker_images.pull(self.client, ref)

    def images_disk_use(self, service_ids: list[int]) -> int:
        with _engine_errors("measuring images"):
            shared = {}
            for base in docker_images.named(self.client, f"{settings.BASE_IMAGE_PREFIX}/*"):
                shared.update(docker_images.layer_ids(self.client, base.id))
            layers = {}
            for service_id in service_ids:
                for image in docker_images.named(self.client, image_repository(service_id)):
                    layers.update(docker_images.layer_ids(self.client, image.id))
        return sum(size for layer, size in layers.items() if layer not in shared)

    # --- networks ----------------------------------------------------------

    def ensure_network(self, environment_id: int) -> str:
        """The environment's network, made with a small subnet of its own when missing."""
        name = network_name(environment_id)
        # The engine's duplicate check is best effort: two workers starting the same
        # environment's first services at once made two networks of one name, and every
        # container start on it then failed as "ambiguous". One maker per environment.
        # (Without Redis, it goes on unlocked.)
        lock = locks.held(f"network-{environment_id}", timeout=120, wait=60)
        with _engine_errors("creating the environment's network"), lock:
            for _ in range(_NETWORK_ATTEMPTS):
                networks = self.client.api.networks()
                # The engine's name filter matches parts of names (env-1 in env-12): compare whole names.
                if any(n.get("Name") == name for n in networks):
                    return name
                in_use = [
                    c.get("Subnet", "") for n in networks for c in (n.get("IPAM") or {}).get("Config") or ()
                ]
                subnet = subnets.pick(in_use)[0]
                try:
                    self.client.networks.create(
                        name,
                        driver="bridge",
                        labels=_labels(environment=environment_id),
                        ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)]),
                        check_duplicate=True,
                    )
                    return name
                except APIError as exc:
                    if exc.status_code == 409:  # made meanwhile by another worker
                        return name
                    if not subnets.is_overlap(exc.explanation):
                        raise
                    # Another worker took this subnet a moment ago: look again.
        raise PlatformError(
            f"No free subnet in NETWORK_POOL={settings.NETWORK_POOL} could be taken after "
            f"{_NETWORK_ATTEMPTS} tries; workers are racing for the last ones, or the pool is nearly full."
        )

    def remove_network(self, environment_id: int) -> None:
        """Remove the environment's network unless a container still uses it."""
        with _engine_errors("removing the environment's network"):
            for network in self.client.networks.list(names=[network_name(environment_id)]):
                try:
                    network.remove()
                except NotFound:
                    pass
                except APIError as exc:
                    if exc.status_code != 403:  # 403: it still has containers
                        raise

    # --- instances ---------------------------------------------------------

    def start(self, spec: InstanceSpec) -> Instance:
        try:
            return self._start(spec)
        except NotFound:
            # The network went away with the environment's last container
            # between ensure_network() and create(): make it again, once.
            return self._start(spec)

    def _create(self, image: str, *, name: str, **options) -> Container:
        """Create the container; one left under its name goes first.

        The name is this replica's alone (platform, deployment, process type, index), so a
        container holding it is what an earlier attempt left when the engine went away
        before it could be removed (a retried deploy, a start by the reconciler).
        """
        try:
            return self.client.containers.create(image, name=name, **options)
        except APIError as exc:
            if exc.status_code != 409:
                raise
        with suppress(NotFound):
            self.client.containers.get(name).remove(force=True)
        return self.client.containers.create(image, name=name, **options)

    def _start(self, spec: InstanceSpec) -> Instance:
        network = self.ensure_network(spec.environment_id)
        # M3O_PROCESS names the replica ("web.1", "worker.2"), as Heroku's DYNO does.
        variables = {
            **spec.variables,
            "PORT": str(spec.port),
            "M3O_PROCESS": f"{spec.process}.{spec.index + 1}",
        }
        name = f"{settings.PLATFORM_NAME}-{spec.alias}-e{spec.environment_id}-d{spec.deployment_id}"
        web = spec.process == "web"
        if not web or spec.index:
            name += f"-{spec.process}-{spec.index + 1}"
        with _engine_errors("starting the container"), _no_command(spec):
            container = self._create(
                spec.image,
                name=name,
                detach=True,
                environment=variables,
                labels=_grace_label(spec)
                | _labels(
                    service=spec.service_id,
                    environment=spec.environment_id,
                    deployment=spec.deployment_id,
                    process=spec.process,
                    replica=spec.index,
                ),
                network=network,
                # The alias lets the environment's other services reach its web process by name.
                networking_config={
                    network: EndpointConfig(self.client.api.api_version, aliases=[spec.alias] if web else [])
                },
                # A one-off (the release command) or a worker serves nothing: no port, no address.
                ports={f"{spec.port}/tcp": ("127.0.0.1", None)} if spec.serves else None,
                # A worker, clock, ... is supervised by the engine from the start: started again
                # after each exit, with a backoff that doubles (the engine's own), counted.
                restart_policy=None if web or spec.one_off else {"Name": "unless-stopped"},
                command=list(spec.command) or None,
                mem_limit=f"{spec.limits.memory_mb}m",
                memswap_limit=f"{spec.limits.memory_mb}m",
                nano_cpus=int(spec.limits.cpus * 1e9),
                pids_limit=spec.limits.pids,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                privileged=False,
                # A tiny init as PID 1 forwards the stop signal, so an app that
                # ignores SIGTERM as PID 1 still stops without the full timeout.
                init=True,
                log_config=LogConfig(type="json-file", config={"max-size": "10m", "max-file": "3"}),
            )
            try:
                container.start()
                if not spec.serves:
                    return Instance(id=container.id, host_port=0)
                container.reload()
                bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{spec.port}/tcp") or []
                if not bindings:
                    self._raise_if_exited(container, spec.port)
                    raise PlatformError("The container started without a published port.")
                return Instance(id=container.id, host_port=int(bindings[0]["HostPort"]))
            except BaseException:
                self.remove(container.id)
                raise

    def running_processes(self) -> dict[str, tuple[int, str, int]]:
        """{container id: (deployment id, process type, replica)} of this installation's running instances."""
        with _engine_errors("listing the running containers"):
            summaries = self.client.api.containers(
                filters={"label": f"{LABEL}.platform={settings.PLATFORM_NAME}", "status": "running"}
            )
        found = {}
        for summary in summaries:
            deployment = _label_id(summary, "deployment")
            if deployment is not None:
                found[summary["Id"]] = (deployment, _process_of(summary), _label_id(summary, "replica") or 0)
        return found

    def _raise_if_exited(self, container, port: int) -> None:
        """An app that exits within milliseconds has no published port by the time we look:
        that is its own failure, told with its exit code and its last words."""
        status = container.attrs["State"]
        if status.get("Running") and not status.get("Restarting"):
            return
        state = InstanceState(
            running=False, exit_code=status.get("ExitCode"), oom_killed=status.get("OOMKilled", False)
        )
        output = container.logs(tail=settings.CRASH_LOG_LINES).decode("utf-8", errors="replace")
        raise AppExited(
            f"The app {state.describe()} before it answered HTTP on port {port}.", output.splitlines(), state
        )

    def state(self, instance_id: str) -> InstanceState:
        with _engine_errors("checking the container"):
            try:
                container = self.client.containers.get(instance_id)
            except NotFound:
                return InstanceState(running=False, exit_code=None)
            status = container.attrs["State"]
            return InstanceState(
                running=status.get("Running", False) and not status.get("Restarting", False),
                exit_code=status.get("ExitCode"),
                oom_killed=status.get("OOMKilled", False),
                restarting=status.get("Restarting", False),
                restarts=int(container.attrs.get("RestartCount") or 0),
            )

    def tail(self, instance_id: str, lines: int) -> list[str]:
        with _engine_errors("reading the container's output"):
            try:
                output = self.client.containers.get(instance_id).logs(tail=lines)
            except NotFound:
                return []
        return output.decode("utf-8", errors="replace").splitlines()

    def logs(self, instance_id: str, *, tail: int, since: float | None = None) -> list[tuple[str, str]]:
        with _engine_errors("reading the container's output"):
            try:
                container = self.client.containers.get(instance_id)
            except NotFound:
                return []
            kwargs = {"tail": tail, "timestamps": True}
            if since is not None:
                kwargs["since"] = since
            output = container.logs(**kwargs).decode("utf-8", errors="replace")
        pairs = []
        for line in output.splitlines():
            stamp, _, text = line.partition(" ")
            pairs.append((stamp, text))
        return pairs

    def follow_logs(self, instance_id: str, *, since: float | None, tail: int) -> Iterator[tuple[str, str]]:
        """(timestamp, line) pairs of the instance's output, from `since` (or its last `tail`
        lines) on, as it prints them, until it stops or the engine hangs up."""
        options = {"since": since} if since is not None else {"tail": tail}
        with _engine_errors("following the container's output"):
            try:
                chunks = self.client.api.logs(
                    instance_id, stream=True, follow=True, timestamps=True, **options
                )
            except NotFound:
                return
            except APIError as exc:
                if exc.status_code == 409:  # being removed: it has nothing more to say
                    return
                raise
        pending = b""
        try:
            for chunk in chunks:
                *whole, pending = (pending + chunk).split(b"\n")
                for raw in whole:
                    stamp, _, text = raw.decode("utf-8", errors="replace").partition(" ")
                    yield stamp, text
        except (requests.exceptions.RequestException, OSError) as exc:
            raise PlatformError(f"The container engine hung up on a log stream: {exc}") from exc

    def running_instances(self) -> dict[str, int]:
        """{container id: deployment id} of this installation's running instances."""
        with _engine_errors("listing the running containers"):
            summaries = self.client.api.containers(
                filters={"label": f"{LABEL}.platform={settings.PLATFORM_NAME}", "status": "running"}
            )
        found = {}
        for summary in summaries:
            deployment = (summary.get("Labels") or {}).get(f"{LABEL}.deployment", "")
            if deployment.isdigit():
                found[summary["Id"]] = int(deployment)
        return found

    def engine_id(self) -> str:
        """The engine's own id: one log collector per engine, whatever machine the workers are on."""
        with _engine_errors("asking the engine who it is"):
            return self.client.info()["ID"]

    def restart(self, instance_id: str) -> int | None:
        """Stop (SIGTERM, its grace period, SIGKILL) and start the instance again; return its
        published port, which may be another one now (None: it has none)."""
        with _engine_errors("restarting the container"):
            self.client.api.restart(instance_id, timeout=self._grace(instance_id))
            attrs = self.client.api.inspect_container(instance_id)
        ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
        bindings = [binding for found in ports.values() for binding in found or ()]
        return int(bindings[0]["HostPort"]) if bindings else None

    def _grace(self, instance_id: str) -> int:
        """The instance's grace period, from its label (STOP_TIMEOUT for one without)."""
        config = self.client.api.inspect_container(instance_id).get("Config") or {}
        grace = (config.get("Labels") or {}).get(GRACE_LABEL, "")
        return int(grace) if grace.isdigit() else settings.STOP_TIMEOUT

    def addresses(self) -> dict[str, str]:
        """{container id: "ip:port"} of this platform's running containers, on their own network.

        One engine call: the list's summaries carry the addresses, no inspect per container.
        """
        with _engine_errors("listing the running containers"):
            summaries = self.client.api.containers(
                filters={"label": f"{LABEL}.platform={settings.PLATFORM_NAME}"}
            )
        addresses = {}
        for summary in summaries:
            networks = (summary.get("NetworkSettings") or {}).get("Networks") or {}
            ips = [networks[name].get("IPAddress") for name in sorted(networks)]
            ports = [p["PrivatePort"] for p in summary.get("Ports") or () if p.get("PublicPort")]
            ip = next((ip for ip in ips if ip), None)
            if summary.get("State") == "running" and ip and ports:
                addresses[summary["Id"]] = f"{ip}:{ports[0]}"
        return addresses

    def instances(self) -> list[Found]:
        with _engine_errors("listing the containers"):
            summaries = self.client.api.containers(all=True, filters=_filters())
        return [
            Found(
                id=summary["Id"],
                deployment_id=_label_id(summary, "deployment"),
                service_id=_label_id(summary, "service"),
                environment_id=_label_id(summary, "environment"),
                running=summary.get("State") in ("running", "restarting"),
                process=_process_of(summary),
            )
            for summary in summaries
        ]

    def networks(self) -> list[int]:
        with _engine_errors("listing the networks"):
            found = self.client.api.networks(filters=_filters())
        ids = (_label_id(network, "environment") for network in found)
        return sorted(i for i in ids if i is not None)

    def images(self) -> dict[int, list[str]]:
        prefix = f"{settings.PLATFORM_NAME}-app/s"
        found: dict[int, list[str]] = {}
        with _engine_errors("listing the images"):
            summaries = self.client.api.images()
        for summary in summaries:
            for tag in summary.get("RepoTags") or ():
                repository = tag.rpartition(":")[0]
                if repository.startswith(prefix) and repository[len(prefix) :].isdigit():
                    found.setdefault(int(repository[len(prefix) :]), []).append(tag)
        return found

    def keep_restarting(self, instance_id: str) -> None:
        # Only once healthy: a crash loop during the health check is a failed
        # deployment, afterwards it is an outage that restarting may heal.
        with _engine_errors("setting the restart policy"):
            self.client.containers.get(instance_id).update(restart_policy={"Name": "unless-stopped"})

    def listening_ports(self, instance_id: str) -> list[int]:
        """The TCP ports the instance listens on, read from its own /proc/net (for a hint)."""
        # The kernel's table of the container's network namespace, read through its
        # first process: nothing of the (untrusted) image runs to answer.
        with _engine_errors("asking the container for its ports"):
            try:
                pid = int(self.client.containers.get(instance_id).attrs["State"].get("Pid") or 0)
            except NotFound:
                return []
        if pid <= 0:
            return []
        text = ""
        for name in ("tcp", "tcp6"):
            with suppress(OSError):
                text += Path(f"/proc/{pid}/net/{name}").read_text()[:200_000]
        return listening_ports(text)

    def remove(self, instance_id: str) -> None:
        """Stop the instance (its app gets SIGTERM and its grace period to finish), then remove it."""
        with _engine_errors("removing a container"):
            try:
                self.client.api.stop(instance_id, timeout=self._grace(instance_id))
            except NotFound:
                return
            except APIError as exc:
                if exc.status_code != 409:  # 409: being removed by someone else already
                    raise
            self._force_remove(instance_id)

    def remove_environment(self, environment_id: int) -> None:
        """Every container of the environment, then its network."""
        with _engine_errors("removing an environment's containers"):
            for container in self.client.containers.list(
                all=True, filters=_filters(environment=environment_id)
            ):
                self._force_remove(container.id)
        self.remove_network(environment_id)

    def remove_deployment(self, deployment_id: int) -> None:
        with _engine_errors("removing a deployment's containers"):
            for container in self.client.containers.list(
                all=True, filters=_filters(deployment=deployment_id)
            ):
                self._force_remove(container.id)

    def _force_remove(self, container_id: str) -> None:
        """Remove a container; when another removal is under way (a retirement meeting a
        deletion, say), wait for that one, so the container is gone when this returns."""
        try:
            self.client.api.remove_container(container_id, force=True)
        except NotFound:
            return
        except APIError as exc:
            if exc.status_code != 409:
                raise
            with suppress(NotFound):
                self.client.api.wait(container_id, timeout=settings.STOP_TIMEOUT + 30, condition="removed")


class _Watchdog(threading.Thread):
    """Hangs up a build at its deadline, or as soon as `stop` is set.

    Closing the connection is what makes the engine cancel a classic build.
    """

    def __init__(self, response: requests.Response, timeout: float, stop: threading.Event) -> None:
        super().__init__(daemon=True, name="build-watchdog")
        self.response = response
        self.deadline = time.monotonic() + timeout
        self.stop = stop
        self.finished = threading.Event()
        self.fired: str | None = None

    def run(self) -> None:
        while not self.finished.is_set():
            if self.stop.wait(0.25):
                self.fired = "stop"
            elif time.monotonic() >= self.deadline:
                self.fired = "timeout"
            else:
                continue
            self._hang_up()
            return

    def _hang_up(self) -> None:
        sock = _raw_socket(self.response)
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        self.finished.set()

    def raise_if_fired(self, timeout: float) -> None:
        if self.fired == "stop":
            raise Cancelled()
        if self.fired == "timeout":
            raise BuildTimedOut(f"The build timed out after {int(timeout)} s and was stopped.")


def _label_id(summary: dict, key: str) -> int | None:
    value = (summary.get("Labels") or {}).get(f"{LABEL}.{key}", "")
    return int(value) if value.isdigit() else None


def _process_of(summary: dict) -> str:
    """The process type a container runs; containers from before process types ran the web."""
    return (summary.get("Labels") or {}).get(f"{LABEL}.process") or "web"


@contextmanager
def _no_command(spec: InstanceSpec):
    """An image without CMD or ENTRYPOINT, and nothing to start it with: the repository's to mend."""
    try:
        yield
    except APIError as exc:
        if exc.status_code == 400 and "no command specified" in str(exc.explanation).lower():
            what = "the web process" if spec.process == "web" else f"the {spec.process} process"
            raise UserError(
                f"The image has no command to start {what}: its Dockerfile has no CMD or ENTRYPOINT. Add "
                "a CMD to the Dockerfile, a `web:` line to a Procfile, or set the service's start command."
            ) from None
        raise


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:500]
    except ValueError:
        return response.text[:500]


# The name the build's Dockerfile has in the context's tar, never on disk.
DOCKERFILE_NAME = ".m3o.Dockerfile"


def _dockerignore(context: Path) -> list[str]:
    text = tree.read_text(context, ".dockerignore")
    if text is None:
        return []
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]
