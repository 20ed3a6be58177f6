#!/usr/bin/env bash
# `make upgrade [REF=tag-or-commit]`: new code, its dependencies, migrations, restart.
#
# Deployed apps keep serving throughout: they are containers behind the proxy,
# which none of these steps stops; the worker that starts on the new code
# checks with the reconciler that every deployment that should run does.
#
#   1. a backup without images (UPGRADE_BACKUP=0 skips it), to come back to;
#   2. the code: `git pull --ff-only` of the branch, or REF fetched and checked out;
#   3. what the new code needs, only where it changed: system packages
#      (scripts/system-deps.sh), Python packages (requirements.txt, pyproject.toml),
#      base images (scripts/build-base-images.sh);
#   4. migrations and static files, while the old processes still serve
#      (so a release's migrations must suit the code before it too);
#   5. web, worker and beat restarted (`scripts/serve.sh restart` in production
#      mode, found by its settings file; under `make run`, restart it yourself).
#      A worker stops warm: the builds it runs finish first.
set -euo pipefail
cd "${M3O_CHECKOUT:-$(dirname "$0")/..}"
ref=${1:-}
remote=${UPGRADE_REMOTE:-origin}
py=.venv/bin/python

say() { echo "==> $*"; }
# manage.py commands (separated by --) in one process, with the settings the processes
# get: /etc/m3o/m3o.env (M3O_ENV_FILE) wins over the environment, as in production.
manage() {
  "$py" -c 'import sys
from portal.backup import start_django
start_django()
from django.core.management import execute_from_command_line
command = []
for word in [*sys.argv[1:], "--"]:
    if word != "--":
        command.append(word)
    elif command:
        execute_from_command_line(["manage.py", *command])
        command = []' "$@"
}

if ! git diff --quiet HEAD --; then
  echo "This checkout has local changes to tracked files (git status); commit or drop them first." >&2
  exit 1
fi
old=$(git rev-parse HEAD)

if [ "${UPGRADE_BACKUP:-1}" = 1 ] && [ -f portal/backup.py ]; then
  say "Backup before the upgrade (without images)"
  "$py" -m portal.backup --no-images
fi

if [ -n "$ref" ]; then
  say "Fetching $ref from $remote"
  git fetch --quiet "$remote" "$ref"
  git checkout --quiet --detach FETCH_HEAD
elif git symbolic-ref -q HEAD >/dev/null; then
  say "Pulling $(git symbolic-ref --short HEAD) from $remote"
  git pull --quiet --ff-only "$remote" "$(git symbolic-ref --short HEAD)"
else
  echo "HEAD is not on a branch: say which code to run, e.g. make upgrade REF=v1.2" >&2
  exit 1
fi
new=$(git rev-parse HEAD)
if [ "$old" = "$new" ]; then
  say "Already at $(git log -1 --format='%h %s')"
else
  say "Code: $(git log -1 --format=%h "$old") -> $(git log -1 --format='%h %s')"
fi

changed() { ! git diff --quiet "$old" "$new" -- "$@"; }
if changed scripts/system-deps.sh; then
  say "System packages"
  scripts/system-deps.sh
fi
if changed requirements.txt; then
  say "Python packages"
  "$py" -m pip install --quiet -r requirements.txt
fi
if changed pyproject.toml; then
  "$py" -m pip install --quiet --no-deps -e .
fi
if changed scripts/build-base-images.sh; then
  say "Base images"
  scripts/build-base-images.sh
fi
touch .venv/.installed 2>/dev/null || true

say "Migrations"
manage migrate --noinput -- collectstatic --noinput -v0

settings_file=${M3O_ENV_FILE:-${M3O_ETC_DIR:-/etc/m3o}/m3o.env}
if [ -f "$settings_file" ] && [ -x scripts/serve.sh ]; then
  say "Restarting web, worker and beat"
  if ! scripts/serve.sh restart web worker beat; then
    echo "The processes could not be restarted; start them with: make serve" >&2
    exit 1
  fi
else
  say "Restart the platform's processes to run the new code (stop \`make run\` and start it again)"
fi
say "Upgraded to $(git log -1 --format='%h %s')"
