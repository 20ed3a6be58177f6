#!/usr/bin/env bash
# The whole test suite against Postgres, Redis and the Docker engine that
# scripts/start-services.sh started. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export SECRET_KEY=${SECRET_KEY:-test-only-secret-key}
# Pinned, so a var/local.env left by `make run` in this checkout (DEBUG=1) changes nothing here.
export DEBUG=${DEBUG:-false}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:${PG_PORT:-54329}/m3o}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:${REDIS_PORT:-6379}/15}
export CACHE_URL=${CACHE_URL:-redis://127.0.0.1:${REDIS_PORT:-6379}/9}
export PLATFORM_NAME=${PLATFORM_NAME:-m3o-test}
export ALLOW_LOCAL_REPOSITORIES=1
export HTTPS=${HTTPS:-false}
export CHROMIUM_PATH=${CHROMIUM_PATH:-$(command -v chromium || true)}
# A checkout folder of its own per run, so runs side by side never see each other's.
export WORKSPACE_DIR=${WORKSPACE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/m3o-test-workspace.XXXXXX")}
# Uploads too: the tests' worker and the tests must agree on it, and never touch var/uploads.
export UPLOADS_DIR=${UPLOADS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/m3o-test-uploads.XXXXXX")}
trap 'rm -rf "$WORKSPACE_DIR" "$UPLOADS_DIR"' EXIT
.venv/bin/python manage.py collectstatic --noinput -v0
# The slowest tests are listed at the end, so a run that grows shows where.
.venv/bin/pytest --durations=30 "$@"
