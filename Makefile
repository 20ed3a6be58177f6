# `make run` and `make test` set up everything they need on a fresh Debian/Ubuntu
# machine: system packages (as root), the virtualenv, Redis, the Docker engine,
# the base images and, for the tests, Postgres and Chromium.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CA_BUNDLE := $(firstword $(BUILD_CA_BUNDLE) $(wildcard /etc/ssl/certs/ca-certificates.crt))
export BUILD_CA_BUNDLE := $(CA_BUNDLE)

.PHONY: run test setup system venv services base-images migrate static lint superuser local-settings \
	install serve stop

# `make run`'s settings (DEBUG, a generated secret key, the SQLite path) live in
# var/local.env, which manage.py, the worker and the tests read too.
run: setup local-settings migrate static
	@$(PY) manage.py ensure_admin
	@echo "Dashboard: http://127.0.0.1:8000 (admin@localhost; its password is in var/admin-password)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile

test: export WITH_TEST_DEPS := 1
test: export WITH_POSTGRES := 1
test: setup lint
	scripts/run-tests.sh $(ARGS)

setup: system venv services base-images

system:
	@scripts/system-deps.sh

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet -e .  # the `m3o` command
	@touch $@

services:
	@scripts/start-services.sh

base-images:
	@scripts/build-base-images.sh

static: venv
	$(PY) manage.py collectstatic --noinput -v0

local-settings:
	@scripts/local-settings.sh

migrate:
	$(PY) manage.py migrate --noinput

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) scripts/check-test-waits.py
	$(PY) scripts/check-test-engine.py

# Backup, restore and upgrade (README, "Running it on a server"). They read the
# settings as the processes do: /etc/m3o/m3o.env (M3O_ENV_FILE), var/local.env, the environment.
.PHONY: backup restore restore-archive upgrade
backup: venv
	@$(PY) -m portal.backup $(if $(OUT),--out "$(OUT)") $(if $(filter 0 no,$(IMAGES)),--no-images)

# The archive is asked for before the set-up runs.
restore: restore-archive setup
	@$(PY) -m portal.restore "$(ARCHIVE)" $(if $(filter 1 yes,$(FORCE)),--force)

restore-archive:
	@test -n "$(ARCHIVE)" || { echo "Say which archive: make restore ARCHIVE=path/to/m3o-backup-....tar" >&2; exit 1; }

upgrade:
	@scripts/upgrade.sh $(REF)


superuser:
	$(PY) manage.py createsuperuser

# Production mode on a server, as root (README, "Running it on a server"):
# install once, then serve; the settings file is /etc/m3o/m3o.env.
install:
	@scripts/install.sh

serve:
	@scripts/serve.sh start

stop:
	@scripts/serve.sh stop
