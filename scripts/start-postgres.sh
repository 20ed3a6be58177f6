#!/usr/bin/env bash
# A private Postgres cluster for the tests, in var/postgres, on PG_PORT.
# Runs as the "postgres" system user when started by root (initdb refuses root).
set -euo pipefail
cd "$(dirname "$0")/.."
PG_PORT=${PG_PORT:-54329}
datadir="$PWD/var/postgres"
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ]; then
  echo "PostgreSQL server binaries not found: install the 'postgresql' package." >&2
  exit 1
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if as_pg "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then exit 0; fi

mkdir -p "$datadir"
[ "$(id -u)" = 0 ] && chown postgres: "$datadir" && chmod 700 "$datadir"
if [ ! -f "$datadir/PG_VERSION" ]; then
  as_pg "$bindir/initdb" -D "$datadir" -U postgres --auth=trust --no-instructions >/dev/null
fi
echo "Starting Postgres on port $PG_PORT"
as_pg "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w \
  -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
