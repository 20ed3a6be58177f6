#!/usr/bin/env bash
# `make install`: production mode on a fresh Debian or Ubuntu server, as root.
#
# Installs the system packages (with Postgres and supervisor), the virtualenv, a
# system user (M3O_USER, default m3o) for the web process, beat and the portal's
# proxy, with no engine access (never in the docker group; the worker alone runs as
# root), a Postgres role and database, and the settings file: DEBUG off, a secret
# key and encryption keys generated once, root-only. Then migrates, collects the
# static files and, where systemd runs, installs the units. Running it again keeps
# the settings file as it is (the keys must never change) and only completes what
# is missing. Start it all with `make serve` (scripts/serve.sh).
#
# Settings given in the environment of the first run are written into the file,
# e.g. PORTAL_DOMAIN=m3o.example.com APPS_DOMAIN=apps.example.com make install.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$PATH:/usr/sbin:/sbin"

if [ "$(id -u)" != 0 ]; then
  echo "make install sets up system users, Postgres and services: run it as root." >&2
  exit 1
fi

etc=${M3O_ETC_DIR:-/etc/m3o}
env_file=${M3O_ENV_FILE:-$etc/m3o.env}
setting() {  # the value of NAME in the settings file, empty when absent
  if [ -f "$env_file" ]; then sed -n "s/^$1=//p" "$env_file" | tail -n 1; fi
}
# Once written, the settings file says where things are.
user=$(setting M3O_USER)
user=${user:-${M3O_USER:-m3o}}
var=$(setting M3O_VAR_DIR)
var=${var:-${M3O_VAR_DIR:-$root/var}}

WITH_PROD_DEPS=1 scripts/system-deps.sh
make --no-print-directory venv

# The web process must read the code: every folder above the checkout must let it pass.
if ! getent passwd "$user" >/dev/null; then
  echo "Creating the system user $user"
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user" \
    || getent passwd "$user" >/dev/null  # another install made it at the same moment
fi
if id -nG "$user" | tr ' ' '\n' | grep -qx docker; then
  echo "The user $user is in the docker group, which is root on this machine: remove it" \
    "(gpasswd -d $user docker)." >&2
  exit 1
fi
as_user() { setpriv --reuid "$user" --regid "$user" --init-groups "$@"; }
# The checkout, or the Python its virtualenv was made from (pyenv in /root), may sit
# below a private folder: the user gets leave to pass through those folders (search
# permission, an ACL entry for it alone), never to list or read them.
let_pass() {  # let_pass FOLDER
  local dir=
  for part in $(tr / ' ' <<<"$1"); do  # from the top down
    dir=$dir/$part
    if ! as_user test -x "$dir"; then
      echo "Letting $user pass through $dir"
      setfacl -m "u:$user:x" "$dir"
    fi
  done
}
let_pass "$root"
if ! as_user test -r "$root/manage.py"; then
  echo "The user $user cannot read $root: put the checkout where others may read it (e.g. /opt/m3o)." >&2
  exit 1
fi
interpreter=$(readlink -f .venv/bin/python)
let_pass "$(dirname "$interpreter")"
if ! as_user .venv/bin/python -c 'import django, redis' 2>/dev/null; then
  echo "The user $user cannot run .venv/bin/python ($interpreter) with its packages." >&2
  exit 1
fi

# Folders: what the web process and beat write is theirs; the rest stays root's.
mkdir -p "$var"/{log,run,workspace}
for dir in home uploads mail cli beat portal-proxy; do
  mkdir -p "$var/$dir"
  chown "$user:$user" "$var/$dir"
done
chmod 755 "$var"
chmod 700 "$var/workspace"

# The database: the one given in DATABASE_URL, else a role and a database on
# Debian's own cluster, with a generated password.
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(36))'; }
database_url=$(setting DATABASE_URL)
database_url=${database_url:-${DATABASE_URL:-}}
if [ -z "$database_url" ]; then
  cluster=$(pg_lsclusters --no-header | sort -V | tail -n 1)
  read -r pg_version pg_name pg_port pg_status _ <<<"$cluster"
  if [ "$pg_status" != online ]; then
    echo "Starting Postgres $pg_version/$pg_name"
    pg_ctlcluster "$pg_version" "$pg_name" start
  fi
  password=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
  as_pg() { runuser -u postgres -- "$@"; }
  if [ "$(as_pg psql -p "$pg_port" -Atc "select 1 from pg_roles where rolname = 'm3o'")" != 1 ]; then
    as_pg psql -q -p "$pg_port" -c "create role m3o login password '$password'"
  else
    as_pg psql -q -p "$pg_port" -c "alter role m3o password '$password'"
  fi
  if [ "$(as_pg psql -p "$pg_port" -Atc "select 1 from pg_database where datname = 'm3o'")" != 1 ]; then
    as_pg createdb -p "$pg_port" -O m3o m3o
  fi
  database_url="postgres://m3o:$password@127.0.0.1:$pg_port/m3o"
else
  # A database named by the operator: create it when its server lets us.
  .venv/bin/python - "$database_url" <<'PY'
import sys
from urllib.parse import urlsplit

import psycopg

url = urlsplit(sys.argv[1])
name = url.path.lstrip("/")
admin = url._replace(path="/postgres").geturl()
with psycopg.connect(admin, autocommit=True) as conn:
    if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
        print(f"Creating the database {name}")
        conn.execute(f'create database "{name}"')
PY
fi

# The settings file, once. Keys are never generated again: losing them makes every
# stored secret unreadable, so they are printed for the operator to keep.
if [ ! -f "$env_file" ]; then
  mkdir -p "$etc"
  chmod 755 "$etc"
  secret_key=$(random)
  encryption_key=$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')
  umask 077
  tmp=$(mktemp "$etc/.m3o.env.XXXXXX")
  {
    echo "# M3O production settings, written once by scripts/install.sh. Root only."
    echo "# Back up SECRET_KEY and ENCRYPTION_KEYS: without them no stored secret can be read."
    echo "DEBUG=0"
    echo "HTTPS=1"
    echo "SECRET_KEY=$secret_key"
    echo "ENCRYPTION_KEYS=$encryption_key"
    echo "DATABASE_URL=$database_url"
    echo "M3O_VAR_DIR=$var"
    echo "M3O_USER=$user"
    # The portal's Caddy is the one proxy in front of the web process: the client's
    # address is the last one it appends to X-Forwarded-For.
    if [ -n "${PORTAL_DOMAIN:-}" ]; then echo "TRUSTED_PROXIES=1"; fi
    for name in PORTAL_DOMAIN PORTAL_HTTP_PORT PORTAL_HTTPS_PORT PORTAL_BIND PORTAL_ACME_EMAIL WEB_BIND \
      WEB_WORKERS WORKER_CONCURRENCY REDIS_URL CACHE_URL PLATFORM_NAME APPS_DOMAIN INGRESS_BIND \
      INGRESS_HTTP_PORT INGRESS_HTTPS_PORT INGRESS_ADMIN_ADDRESS INGRESS_CONTROL_ADDRESS INGRESS_CHALLENGE_PORT \
      INGRESS_PUBLIC_IP INGRESS_ACME_EMAIL EMAIL_HOST DEFAULT_FROM_EMAIL ALLOW_LOCAL_REPOSITORIES; do
      if [ -n "${!name:-}" ]; then echo "$name=${!name}"; fi
    done
  } >"$tmp"
  chown root:root "$tmp"
  chmod 600 "$tmp"
  mv "$tmp" "$env_file"
  umask 022
  cat <<EOF

Settings written to $env_file (root only). It holds the keys:
  SECRET_KEY=$secret_key
  ENCRYPTION_KEYS=$encryption_key
WARNING: back this file up now, somewhere off this machine. Without these keys
no stored variable or secret can ever be read again.

EOF
fi

# As every process does: the settings file over the environment. The static files
# do not need the database: both at once.
scripts/m3o-process manage collectstatic --noinput -v0 &
static=$!
scripts/m3o-process manage migrate --noinput
wait "$static"

if [ -d /run/systemd/system ]; then
  units=${SYSTEMD_UNIT_DIR:-/etc/systemd/system}
  scripts/systemd-units.sh "$units"
  systemctl daemon-reload
  systemctl enable m3o.target m3o-web m3o-worker m3o-beat m3o-portal-proxy >/dev/null
  echo "systemd units installed in $units; start everything with: make serve"
else
  echo "No systemd here: make serve runs the processes under supervisord."
fi
echo "Installed. Start it with: make serve"
