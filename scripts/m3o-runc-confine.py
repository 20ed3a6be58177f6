#!/usr/bin/python3 -IS
"""Confine a build step: called by scripts/m3o-runc with a container's OCI config.json.

A container whose cgroup lies below /m3o-builds/ is a step of a build (see
deployments/runtime/cgroups.py). Its configuration loses the capabilities a
build has no use for and gains noNewPrivileges, so a setuid binary gains
nothing. Any other container's configuration is left as it is. Installed by
scripts/configure-docker.sh, which writes the interpreter line.
"""

import json
import os
import sys

MARK = "/m3o-builds/"
# NET_RAW: raw sockets, so spoofed packets and ARP tricks on the build's network.
# MKNOD: device nodes. AUDIT_WRITE: the host's audit log. SETFCAP: file capabilities
# in the image, which instances (no capabilities, no-new-privileges) could not use anyway.
DROP = {"CAP_NET_RAW", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"}


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


if __name__ == "__main__":
    try:
        confine(sys.argv[1])
    except (OSError, ValueError, IndexError) as exc:
        # Refuse rather than let a build step run unconfined.
        sys.exit(f"m3o-runc: the container's configuration could not be read: {exc}")
