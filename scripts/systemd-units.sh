#!/usr/bin/env bash
# Write production mode's systemd units for this checkout into a folder:
#   scripts/systemd-units.sh /etc/systemd/system
# m3o.target groups them; each process restarts always, starts at boot and logs to
# the journal (journalctl -u m3o-worker). The web process, beat and the portal's
# proxy run as M3O_USER, never in the docker group; the worker as root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: systemd-units.sh FOLDER}
env_file=${M3O_ENV_FILE:-${M3O_ETC_DIR:-/etc/m3o}/m3o.env}
user=${M3O_USER:-m3o}
mkdir -p "$out"

cat >"$out/m3o.target" <<UNIT
[Unit]
Description=M3O platform: web, worker, beat and the portal's proxy
Wants=m3o-services.service m3o-web.service m3o-worker.service m3o-beat.service m3o-portal-proxy.service

[Install]
WantedBy=multi-user.target
UNIT

# The engine, Redis and the tenants' proxies, started once per boot as make serve does.
cat >"$out/m3o-services.service" <<UNIT
[Unit]
Description=M3O services: the Docker engine, Redis and the services' proxies
After=network-online.target docker.service redis-server.service postgresql.service
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=$env_file
ExecStart=$root/scripts/start-services.sh
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
UNIT

unit() {  # unit NAME DESCRIPTION RUN_AS_USER(yes|no) [extra [Service] lines]
  local name=$1 description=$2 as_user=$3 extra=${4:-}
  {
    echo "[Unit]"
    echo "Description=M3O $description"
    echo "After=network-online.target m3o-services.service postgresql.service redis-server.service"
    echo "Wants=m3o-services.service"
    echo "PartOf=m3o.target"
    echo
    echo "[Service]"
    echo "Type=simple"
    echo "EnvironmentFile=$env_file"
    if [ "$as_user" = yes ]; then
      echo "User=$user"
      echo "Group=$user"
      echo "NoNewPrivileges=yes"
    fi
    [ -n "$extra" ] && printf '%s\n' "$extra"
    echo "WorkingDirectory=$root"
    echo "ExecStart=$root/scripts/m3o-process $name"
    echo "Restart=always"
    echo "RestartSec=2"
    echo "KillMode=mixed"
    echo "TimeoutStopSec=30"
    echo "StandardOutput=journal"
    echo "StandardError=journal"
    echo "SyslogIdentifier=m3o-$name"
    echo
    echo "[Install]"
    echo "WantedBy=multi-user.target m3o.target"
  } >"$out/m3o-$name.service"
}
unit web "web process (the portal, on WEB_BIND)" yes
unit worker "worker (builds and runs the services; drives the engine)" no
unit beat "beat (periodic reconcile, reaper, syncs)" yes
unit portal-proxy "portal proxy (Caddy: HTTPS for PORTAL_DOMAIN)" yes \
  "AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE"
