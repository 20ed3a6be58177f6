#!/usr/bin/env bash
# The Docker engine's configuration the platform needs, as root; safe to run any number of times.
#
# - scripts/m3o-runc (with m3o-runc-confine.py), installed as the engine's default runtime: build steps
#   (containers below the /m3o-builds cgroup) lose NET_RAW and get no-new-privileges.
# - The cgroupfs driver: each build's own cgroup is the engine's cgroup parent as is
#   (deployments/runtime/cgroups.py).
#
# Settings are merged into /etc/docker/daemon.json, keeping whatever else is there;
# the file is written only when something changes. A running engine then reloads
# it with SIGHUP (runtimes are reloaded live; running containers are untouched).
# The cgroup driver applies only when the engine starts: start-services.sh runs
# this before starting one. Other engine settings the platform needs belong here.
set -euo pipefail
cd "$(dirname "$0")/.."

LIBEXEC=${M3O_LIBEXEC:-/usr/local/libexec/m3o}
WRAPPER=$LIBEXEC/m3o-runc
CONFIG=${DOCKER_DAEMON_CONFIG:-/etc/docker/daemon.json}

if [ "$(id -u)" != 0 ]; then
  if [ "$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null)" != m3o-runc ]; then
    echo "Not root: the Docker engine is not configured for confined builds;" \
      "run scripts/configure-docker.sh as root." >&2
  fi
  exit 0
fi

# The engine runs the wrapper as root: root-owned copies, the confiner with the
# system's Python (not a virtualenv or a version manager's shim, which depend on
# who runs them). Each is replaced in one rename: the engine may be running it.
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
python=$(readlink -f "$python")
staged=$(mktemp)
trap 'rm -f "$staged"' EXIT
install -d -m 0755 "$LIBEXEC"
put() {  # put SOURCE-TEXT-FILE TARGET
  if ! cmp -s "$1" "$2"; then
    install -m 0755 "$1" "$2.new"
    mv -f "$2.new" "$2"
  fi
}
{ echo "#!$python -IS"; tail -n +2 scripts/m3o-runc-confine.py; } >"$staged"
put "$staged" "$LIBEXEC/m3o-runc-confine"
put scripts/m3o-runc "$WRAPPER"

changed=$("$python" - "$CONFIG" "$WRAPPER" <<'EOF'
import json, os, sys

path, wrapper = sys.argv[1:]
try:
    with open(path) as file:
        config = json.load(file)
except FileNotFoundError:
    config = {}
wanted = dict(config)
wanted["runtimes"] = {**config.get("runtimes", {}), "m3o-runc": {"path": wrapper}}
wanted["default-runtime"] = "m3o-runc"
options = [o for o in config.get("exec-opts", []) if not o.startswith("native.cgroupdriver=")]
wanted["exec-opts"] = [*options, "native.cgroupdriver=cgroupfs"]
if wanted != config:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".new", "w") as file:
        json.dump(wanted, file, indent=2)
        file.write("\n")
    os.replace(path + ".new", path)
    print("changed")
EOF
)

if ! docker info >/dev/null 2>&1; then
  exit 0  # start-services.sh starts the engine with this configuration
fi
if [ -n "$changed" ]; then
  echo "Reloading the Docker engine's configuration ($CONFIG)"
  pid=$(cat /var/run/docker.pid 2>/dev/null || pidof dockerd || true)
  [ -n "$pid" ] && kill -HUP "$pid"
fi
for _ in $(seq 50); do
  [ "$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null)" = m3o-runc ] && break
  sleep 0.2
done
if [ "$(docker info --format '{{.DefaultRuntime}}')" != m3o-runc ]; then
  echo "The Docker engine did not take m3o-runc as its default runtime; see its log." >&2
  exit 1
fi
driver=$(docker info --format '{{.CgroupDriver}}')
if [ "$driver" != cgroupfs ]; then
  echo "The Docker engine uses the $driver cgroup driver; builds need cgroupfs (set in $CONFIG)." \
    "Restart the engine when nothing runs on it, or set BUILD_CONFINED=0." >&2
fi
