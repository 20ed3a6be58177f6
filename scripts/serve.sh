#!/usr/bin/env bash
# `make serve` / `make stop`: production mode's processes, after `make install`.
#   scripts/serve.sh start            the engine, Redis and the services' proxies, then
#                                     web, worker, beat and the portal's proxy, supervised
#   scripts/serve.sh stop             stop web, worker, beat and the portal's proxy
#                                     (deployed services keep serving through their proxies)
#   scripts/serve.sh restart [NAME]   all of them, or one: web, worker, beat, portal-proxy
#   scripts/serve.sh status
# Where systemd runs (PID 1) they are its units (m3o.target); elsewhere (containers,
# this test machine) supervisord from Debian restarts any of them that stops.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
action=${1:-start}
shift || true

if [ "$(id -u)" != 0 ]; then
  echo "make serve starts processes as root and as M3O_USER: run it as root." >&2
  exit 1
fi
etc=${M3O_ETC_DIR:-/etc/m3o}
env_file=${M3O_ENV_FILE:-$etc/m3o.env}
if [ ! -r "$env_file" ]; then
  echo "$env_file is missing: run make install first." >&2
  exit 1
fi
# The settings file over the environment, for the services started here too.
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in '' | '#'*) continue ;; esac
  export "${line%%=*}=${line#*=}"
done <"$env_file"
export M3O_ENV_FILE=$env_file
var=${M3O_VAR_DIR:-$root/var}
programs=(web worker beat)
[ -n "${PORTAL_DOMAIN:-}" ] && programs+=(portal-proxy)

if [ -d /run/systemd/system ]; then
  case "$action" in
    start) systemctl start m3o.target ;;
    stop) systemctl stop m3o-web m3o-worker m3o-beat m3o-portal-proxy ;;
    restart)
      if [ $# -eq 0 ]; then set -- web worker beat portal-proxy; fi
      systemctl restart "${@/#/m3o-}" ;;
    status) systemctl status --no-pager m3o-web m3o-worker m3o-beat m3o-portal-proxy ;;
    *) echo "usage: serve.sh start|stop|restart [NAME]|status" >&2; exit 64 ;;
  esac
  exit 0
fi

conf=$etc/supervisord.conf
ctl() { supervisorctl -c "$conf" "$@"; }

write_config() {
  mkdir -p "$var/log" "$var/run"
  {
    echo "; Written by scripts/serve.sh at each start; edit the settings file instead."
    echo "[unix_http_server]"
    echo "file=$var/run/supervisor.sock"
    echo "chmod=0700"
    echo "[supervisord]"
    echo "logfile=$var/log/supervisord.log"
    echo "pidfile=$var/run/supervisord.pid"
    echo "childlogdir=$var/log"
    echo "[rpcinterface:supervisor]"
    echo "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface"
    echo "[supervisorctl]"
    echo "serverurl=unix://$var/run/supervisor.sock"
    for name in "${programs[@]}"; do
      echo "[program:$name]"
      echo "command=$root/scripts/m3o-process $name"
      echo "directory=$root"
      echo "environment=M3O_ENV_FILE=\"$env_file\""
      echo "autostart=true"
      echo "autorestart=true"
      # A process that dies at once is started again, without end: Redis or the
      # database may come back later.
      echo "startsecs=1"
      echo "startretries=1000000"
      echo "stopasgroup=true"
      echo "killasgroup=true"
      echo "stopwaitsecs=20"
      echo "redirect_stderr=true"
      echo "stdout_logfile=$var/log/$name.log"
      echo "stdout_logfile_maxbytes=50MB"
      echo "stdout_logfile_backups=5"
    done
  } >"$conf.new"
  mv "$conf.new" "$conf"
}

running() { ctl pid >/dev/null 2>&1; }

wait_running() {  # every program RUNNING, within 60 s
  for _ in $(seq 120); do
    if ! ctl status 2>/dev/null | grep -v ' RUNNING ' | grep -q .; then
      return 0
    fi
    sleep 0.5
  done
  ctl status >&2 || true
  echo "Not every process is running; see $var/log/." >&2
  return 1
}

case "$action" in
  start)
    REDIS_PORT=${REDIS_PORT:-$(python3 -c 'import os, urllib.parse as u; print(u.urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")).port or 6379)')}
    export REDIS_PORT
    scripts/start-services.sh
    make --no-print-directory base-images  # present ones are skipped
    write_config
    if running; then
      ctl update >/dev/null
      ctl start all >/dev/null || true
    else
      supervisord -c "$conf"
    fi
    wait_running
    ctl status
    if [ -n "${PORTAL_DOMAIN:-}" ]; then
      port=${PORTAL_HTTPS_PORT:-443}
      echo "Portal: https://$PORTAL_DOMAIN$([ "$port" = 443 ] || echo ":$port")/"
    else
      echo "Portal: http://${WEB_BIND:-127.0.0.1:8000}/ (set PORTAL_DOMAIN for HTTPS)"
    fi
    ;;
  stop)
    if running; then ctl shutdown >/dev/null; fi
    for _ in $(seq 60); do
      [ -S "$var/run/supervisor.sock" ] && running || break
      sleep 0.5
    done
    echo "Stopped web, worker, beat and the portal's proxy; deployed services keep serving."
    ;;
  restart)
    if [ $# -eq 0 ]; then ctl restart all; else ctl restart "$@"; fi
    ;;
  status)
    ctl status
    ;;
  *)
    echo "usage: serve.sh start|stop|restart [NAME]|status" >&2
    exit 64
    ;;
esac
