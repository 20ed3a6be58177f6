#!/usr/bin/env bash
# Install the system packages the platform needs (Debian/Ubuntu, as root).
# Anyone else gets a clear list of what to install instead.
set -euo pipefail

# nginx serves the services' addresses, Caddy their custom domains over HTTPS.
# iptables: scripts/firewall.sh keeps containers away from the host.
need_cmds=(dockerd docker redis-server git debootstrap nginx caddy iptables)
packages=(docker.io redis-server git debootstrap nginx-light caddy ca-certificates curl iptables)
if [ "${WITH_TEST_DEPS:-0}" = 1 ]; then
  # ip: the tests' stand-in metadata service lives in a network namespace.
  need_cmds+=(chromium pg_ctlcluster wrk ip)
  packages+=(chromium postgresql wrk iproute2)
fi
if [ "${WITH_PROD_DEPS:-0}" = 1 ]; then
  # Production mode (scripts/install.sh): Postgres, supervisord where systemd is not
  # PID 1, systemd-analyze to check the units, setpriv to drop privileges.
  # setfacl: the web user may need to pass the folder of a virtualenv's interpreter.
  need_cmds+=(pg_ctlcluster supervisord systemd-analyze setpriv setfacl)
  packages+=(postgresql supervisor systemd util-linux acl)
fi

missing=()
for c in "${need_cmds[@]}"; do
  PATH="$PATH:/usr/sbin" command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing: ${missing[*]}" >&2
  echo "Install these packages, then run again: ${packages[*]}" >&2
  exit 1
fi

echo "Installing system packages: ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
