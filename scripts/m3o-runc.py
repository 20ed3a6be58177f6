#!/usr/bin/python3 -IS
"""The Docker engine's default runtime: runc, with the steps of builds confined further.

The engine's build API cannot drop a capability or set no-new-privileges for a
`RUN` step. So this stands in front of runc: a container whose cgroup lies below
/m3o-builds/ (the cgroup parent a worker gives each build, see
deployments/runtime/cgroups.py) is a build step, and before runc creates it its
OCI configuration loses the capabilities a build has no use for and gains
noNewPrivileges. Every other container, and every other runc command, passes
through untouched.

Installed by scripts/configure-docker.sh (which writes the interpreter line),
never from the checkout itself: the engine runs it as root. Only the standard
library, and quick: the engine runs it for every container operation.
"""

import json
import os
import sys

MARK = "/m3o-builds/"
# NET_RAW: raw sockets, so spoofed packets and ARP tricks on the build's network.
# MKNOD: device nodes. AUDIT_WRITE: the host's audit log. SETFCAP: file capabilities
# in the image, which instances (no capabilities, no-new-privileges) could not use anyway.
DROP = {"CAP_NET_RAW", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"}
# runc's global options that take a value (`--root /run/...`).
VALUE_OPTIONS = {"--log", "--log-format", "--root", "--criu", "--rootless"}
SEARCH = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]


def command_of(args: list[str]) -> tuple[str, list[str]]:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in VALUE_OPTIONS else 1
    return (args[i], args[i + 1 :]) if i < len(args) else ("", [])


def bundle_of(rest: list[str]) -> str:
    for i, arg in enumerate(rest):
        if arg in ("--bundle", "-b") and i + 1 < len(rest):
            return rest[i + 1]
        for prefix in ("--bundle=", "-b="):
            if arg.startswith(prefix):
                return arg[len(prefix) :]
    return "."


def confine(config_path: str) -> None:
    with open(config_path) as file:
        spec = json.load(file)
    if not str((spec.get("linux") or {}).get("cgroupsPath", "")).startswith(MARK):
        return
    process = spec.setdefault("process", {})
    process["noNewPrivileges"] = True
    capabilities = process.get("capabilities") or {}
    for kind, names in capabilities.items():
        if isinstance(names, list):
            capabilities[kind] = [name for name in names if name not in DROP]
    partial = config_path + ".m3o"
    with open(partial, "w") as file:
        json.dump(spec, file)
    os.replace(partial, config_path)


def real_runc() -> str:
    me = os.path.realpath(__file__)
    for folder in os.environ.get("PATH", "").split(os.pathsep) + SEARCH:
        candidate = os.path.join(folder or ".", "runc")
        if os.access(candidate, os.X_OK) and os.path.realpath(candidate) != me:
            return candidate
    sys.exit("m3o-runc: runc was not found")


def main() -> None:
    args = sys.argv[1:]
    command, rest = command_of(args)
    if command in ("create", "run"):
        try:
            confine(os.path.join(bundle_of(rest), "config.json"))
        except (OSError, ValueError) as exc:
            # Refuse rather than run a build step unconfined.
            sys.exit(f"m3o-runc: the container's configuration could not be read: {exc}")
    runc = real_runc()
    os.execv(runc, [runc, *args])  # noqa: S606  (becoming runc, with its arguments as given)


if __name__ == "__main__":
    main()
