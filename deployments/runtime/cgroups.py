"""A build's own cgroup: the limits the engine's build API cannot set, and what they saw.

The classic builder runs each `RUN` step in a container of its own. Its /build
endpoint takes memory and CPU figures per step but no process limit; it does take
a cgroup parent. So each build gets a group made here beforehand,
/m3o-builds/<platform>/d<deployment>, that holds the limits of all its steps
together: processes (a fork bomb fails at pids.max), memory with no swap, and CPU
time. The engine puts each step's container below it. After a failed step the
group's counters tell whether a limit was the cause, so the user reads "ran out
of memory" instead of "returned a non-zero code: 137".

All builds share /m3o-builds, whose CPU weight is below that of the engine's
group of app containers (/docker): when both want the CPU, running apps win.
/m3o-builds is also the mark the engine's runtime wrapper (scripts/m3o-runc)
looks for to take NET_RAW away from build steps and set no-new-privileges.

This needs the engine's cgroupfs driver (the group's path is the engine's
cgroup parent as is) and the worker on the engine's host, as root. Both cgroup
v1 (a hierarchy per controller) and v2 (one unified hierarchy) are handled.
"""

import errno
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from deployments.errors import PlatformError

ROOT = "m3o-builds"
CGROUP_FS = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
CONTROLLERS = ("pids", "memory", "cpu")


@dataclass(frozen=True)
class BuildLimits:
    memory_mb: int
    pids: int
    cpus: float  # 0: no cap, only the lower weight
    cpu_shares: int  # the weight of all builds together; the engine's containers have 1024


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _counter(path: Path, key: str) -> int:
    """A value of a "key value" file such as pids.events or memory.events."""
    for line in _read(path).splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _number(path: Path) -> int | None:
    text = _read(path).strip()
    return int(text) if text.isdigit() else None


class BuildCgroup:
    """The group of one build; `create()` before the build, `remove()` after it."""

    def __init__(self, platform: str, deployment_id: int, limits: BuildLimits, version: int) -> None:
        if version not in (1, 2):
            raise PlatformError(f"Builds cannot be confined on cgroup version {version!r}.")
        self.limits = limits
        self.version = version
        self.relative = Path(ROOT, platform, f"d{deployment_id}")

    @property
    def parent(self) -> str:
        """The cgroup parent to give the engine."""
        return f"/{self.relative}"

    def _dir(self, controller: str, relative: Path | None = None) -> Path:
        base = CGROUP_FS if self.version == 2 else CGROUP_FS / controller
        return base / (relative or self.relative)

    # --- before the build ---------------------------------------------------

    def create(self) -> None:
        # A retried deployment builds again under the same name: start its counters afresh.
        self.remove(wait=0)
        try:
            if self.version == 1:
                self._create_v1()
            else:
                self._create_v2()
        except OSError as exc:
            raise PlatformError(
                f"The build's cgroup could not be made ({exc}): builds are confined with a cgroup "
                "of their own, which needs the worker on the engine's host, as root. Set "
                "BUILD_CONFINED=0 to build without it."
            ) from exc

    def _create_v1(self) -> None:
        limits = self.limits
        for controller in CONTROLLERS:
            self._dir(controller).mkdir(parents=True, exist_ok=True)
        _write(self._dir("cpu", Path(ROOT)) / "cpu.shares", str(limits.cpu_shares))
        _write(self._dir("pids") / "pids.max", str(limits.pids))
        memory = self._dir("memory")
        size = str(limits.memory_mb * 1024 * 1024)
        memsw = memory / "memory.memsw.limit_in_bytes"  # only where swap is accounted
        # memsw may never be below the limit: lower the limit first, raise memsw first.
        if memsw.exists() and _number(memsw) is not None and _number(memsw) < int(size):
            _write(memsw, size)
            _write(memory / "memory.limit_in_bytes", size)
        else:
            _write(memory / "memory.limit_in_bytes", size)
            if memsw.exists():
                _write(memsw, size)
        cpu = self._dir("cpu")
        _write(cpu / "cpu.cfs_period_us", str(PERIOD_US))
        quota = int(limits.cpus * PERIOD_US) if limits.cpus else -1
        _write(cpu / "cpu.cfs_quota_us", str(quota))

    def _create_v2(self) -> None:
        limits = self.limits
        enable = " ".join(f"+{c}" for c in CONTROLLERS)
        # Each level hands the controllers down to the next; the engine's step
        # containers are made below the build's own group.
        levels = [Path(), Path(ROOT), Path(ROOT, self.relative.parts[1]), self.relative]
        for level in levels:
            folder = CGROUP_FS / level
            folder.mkdir(exist_ok=True)
            if level != self.relative:
                wanted = set(CONTROLLERS) - set(_read(folder / "cgroup.subtree_control").split())
                if wanted:
                    _write(folder / "cgroup.subtree_control", enable)
        # cpu.weight of 1..10000 stands for the v1 shares of 2..262144.
        weight = 1 + (max(2, limits.cpu_shares) - 2) * 9999 // 262142
        _write(CGROUP_FS / ROOT / "cpu.weight", str(weight))
        group = CGROUP_FS / self.relative
        _write(group / "pids.max", str(limits.pids))
        _write(group / "memory.max", str(limits.memory_mb * 1024 * 1024))
        if (group / "memory.swap.max").exists():
            _write(group / "memory.swap.max", "0")
        quota = str(int(limits.cpus * PERIOD_US)) if limits.cpus else "max"
        _write(group / "cpu.max", f"{quota} {PERIOD_US}")

    # --- after a failed step -------------------------------------------------

    def ran_out_of_memory(self, exit_code: int | None) -> bool:
        if self.version == 2:
            return _counter(self._dir("memory") / "memory.events", "oom_kill") > 0
        # v1 counts the kill in the step's own group, which the engine has removed by
        # now; the build's group still shows that its limit was reached. Reaching it
        # without a kill is the kernel reclaiming cache, hence the exit code too.
        memory = self._dir("memory")
        peak = _number(memory / "memory.max_usage_in_bytes") or 0
        reached = peak >= self.limits.memory_mb * 1024 * 1024 or (_number(memory / "memory.failcnt") or 0) > 0
        return exit_code == 137 and reached

    def hit_process_limit(self) -> bool:
        group = self._dir("pids")
        if _counter(group / "pids.events", "max") > 0:
            return True
        # Older kernels count a refused fork only in the forking task's own group
        # (the step's, gone by now); pids.peak of the build's group still shows it.
        peak = _number(group / "pids.peak")
        return peak is not None and peak >= self.limits.pids

    # --- after the build -----------------------------------------------------

    def remove(self, wait: float = 5.0) -> None:
        """Remove the group in every hierarchy; the engine may still be removing the
        last step's container below it, so wait for that a little."""
        if self.version == 2:
            folders = [CGROUP_FS / self.relative]
        else:
            # The engine makes the path in every mounted controller, not only ours.
            folders = [hierarchy / self.relative for hierarchy in CGROUP_FS.iterdir()]
        deadline = time.monotonic() + wait
        for folder in folders:
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY) or time.monotonic() > deadline:
                        break  # left behind: empty groups cost nothing, the next build of this id reuses it
                    time.sleep(0.05)


def engine_supports(info: dict) -> int:
    """The cgroup version of an engine that a build's group works with; PlatformError otherwise."""
    driver = info.get("CgroupDriver", "")
    if driver != "cgroupfs":
        raise PlatformError(
            f"Builds are confined with a cgroup of their own, which needs the engine's cgroupfs "
            f"driver; this engine uses {driver or 'none'}. Start it with "
            "native.cgroupdriver=cgroupfs (scripts/configure-docker.sh does) or set "
            "BUILD_CONFINED=0 to build without."
        )
    version = str(info.get("CgroupVersion", "1"))
    if not os.path.isdir(CGROUP_FS):
        raise PlatformError(f"{CGROUP_FS} is missing: the worker must run on the engine's host.")
    return int(version) if version.isdigit() else 1


def explain(error: str, cgroup: BuildCgroup | None, memory_mb: int) -> str:
    """The user's message for a failed build: a limit it hit in plain words, else the engine's."""
    match = re.search(r"returned a non-zero code: (\d+)", error)
    code = int(match.group(1)) if match else None
    if cgroup is not None and cgroup.ran_out_of_memory(code):
        return (
            f"The build ran out of memory: a step needed more than the build's {memory_mb} MB "
            f"and was stopped ({error}). Make the step use less memory, for example fewer parallel jobs."
        )
    if cgroup is not None and cgroup.hit_process_limit():
        return (
            f"The build hit its process limit of {cgroup.limits.pids} processes and threads at once, "
            f"so a step could not start more ({error}). Start fewer processes in the build, for "
            "example fewer parallel jobs."
        )
    if cgroup is None and code == 137:
        return f"The build failed: a step was killed, most likely because it ran out of memory ({error})."
    return f"The build failed: {error}"
