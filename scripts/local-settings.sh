#!/usr/bin/env bash
# `make run`'s local settings: one file, var/local.env, that manage.py, the
# worker, beat and the tests read below their environment (portal/env.py).
# Written once with a generated secret key; running it again changes nothing,
# so sessions and encrypted variables survive a restart.
set -euo pipefail
cd "$(dirname "$0")/.."
var_dir=${M3O_VAR_DIR:-$PWD/var}
file="$var_dir/local.env"
if [[ -e "$file" ]]; then
    exit 0
fi
mkdir -p "$var_dir"
key=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
umask 077
tmp=$(mktemp "$var_dir/.local.env.XXXXXX")
cat > "$tmp" <<SETTINGS
# Written by scripts/local-settings.sh for \`make run\` on this machine; the
# environment overrides any line. Production takes its settings from the
# environment and has no such file.
DEBUG=1
SECRET_KEY=$key
DATABASE_URL=sqlite:///$var_dir/db.sqlite3
SETTINGS
mv "$tmp" "$file"
echo "Local settings written to $file"
