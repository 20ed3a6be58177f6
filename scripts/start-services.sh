#!/usr/bin/env bash
# Start the Docker engine, Redis and the proxies when they are not running (and Postgres
# when WITH_POSTGRES=1). Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."
# var/ of the checkout, or production mode's M3O_VAR_DIR (as portal/settings.py reads it).
var=${M3O_VAR_DIR:-$PWD/var}
mkdir -p "$var/log" "$var/run"

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  for _ in $(seq "$limit"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "$what did not start in ${limit}s; see $var/log/" >&2
  return 1
}

# Before the engine starts, so it starts with it; a running one reloads.
scripts/configure-docker.sh

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "The Docker engine is not running and only root can start it here: start dockerd." >&2
    exit 1
  fi
  echo "Starting the Docker engine"
  setsid dockerd >"$var/log/dockerd.log" 2>&1 < /dev/null &
  wait_for 60 "The Docker engine" docker info
fi

# User code (builds and instances) gets no way to this host or to 169.254.0.0/16.
if [ "$(id -u)" = 0 ]; then
  scripts/firewall.sh
else
  echo "Not root: containers can still reach this host; run scripts/firewall.sh as root." >&2
fi

REDIS_PORT=${REDIS_PORT:-6379}
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  echo "Starting Redis on port $REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
    --dir "$var/run" --save '' --appendonly no \
    --logfile "$var/log/redis.log" --pidfile "$var/run/redis.pid"
  wait_for 20 "Redis" redis-cli -p "$REDIS_PORT" ping
fi

# The reverse proxies in front of the services (ingress/proxy/ loads their routes):
# nginx serves the services' addresses, from a configuration file it reloads;
# Caddy serves custom domains over HTTPS through its admin API. Their files
# (configuration, certificates, local CA, access logs) stay in var/ingress. Both
# come back with their last routes after a restart; the app's periodic sync
# corrects them within INGRESS_SYNC_INTERVAL.
state=${INGRESS_STATE_DIR:-$var/ingress}
mkdir -p "$state/access" "$state/nginx-temp"

INGRESS_CONTROL_ADDRESS=${INGRESS_CONTROL_ADDRESS:-127.0.0.1:2020}
if ! curl -fsS -o /dev/null "http://$INGRESS_CONTROL_ADDRESS/generation" 2>/dev/null; then
  echo "Starting nginx (HTTP port ${INGRESS_HTTP_PORT:-8080})"
  if [ ! -s "$state/nginx.conf" ]; then
    # Until the app loads the routes: every name answers 404.
    cat >"$state/nginx.conf" <<EOF
pid $state/nginx.pid;
error_log $state/nginx-error.log warn;
events {}
http {
  access_log off;
  client_body_temp_path $state/nginx-temp/client_body;
  proxy_temp_path $state/nginx-temp/proxy;
  fastcgi_temp_path $state/nginx-temp/fastcgi;
  uwsgi_temp_path $state/nginx-temp/uwsgi;
  scgi_temp_path $state/nginx-temp/scgi;
  server { listen $INGRESS_CONTROL_ADDRESS; location = /generation { return 200 "initial"; } }
  server { listen ${INGRESS_BIND:-127.0.0.1}:${INGRESS_HTTP_PORT:-8080} default_server; return 404 "No service here\n"; }
}
EOF
  fi
  PATH="$PATH:/usr/sbin" nginx -p "$state/" -c "$state/nginx.conf" >>"$var/log/proxy.log" 2>&1 </dev/null
  wait_for 20 "nginx" curl -fsS -o /dev/null "http://$INGRESS_CONTROL_ADDRESS/generation"
fi

INGRESS_ADMIN_ADDRESS=${INGRESS_ADMIN_ADDRESS:-127.0.0.1:2019}
if ! curl -fsS -o /dev/null "http://$INGRESS_ADMIN_ADDRESS/config/" 2>/dev/null; then
  echo "Starting Caddy (admin API on $INGRESS_ADMIN_ADDRESS)"
  printf '{"admin": {"listen": "%s"}}\n' "$INGRESS_ADMIN_ADDRESS" >"$state/initial.json"
  XDG_DATA_HOME="$state/xdg" XDG_CONFIG_HOME="$state/xdg" \
    setsid caddy run --config "$state/initial.json" --resume --pidfile "$state/caddy.pid" \
    >>"$var/log/proxy.log" 2>&1 </dev/null &
  wait_for 20 "Caddy" curl -fsS -o /dev/null "http://$INGRESS_ADMIN_ADDRESS/config/"
fi

if [ "${WITH_POSTGRES:-0}" = 1 ]; then
  scripts/start-postgres.sh
fi
