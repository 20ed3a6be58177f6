"""Production settings pass Django's deployment checklist."""

import os
import secrets
import subprocess
import sys

from tests.conftest import ROOT


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DEBUG", "HTTPS", "SECRET_KEY", "ALLOW_LOCAL_REPOSITORIES", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    # A var/ folder of its own: production has no `make run` settings file.
    env.update(
        SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="m3o.example.com", M3O_VAR_DIR=str(tmp_path)
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "SECRET_KEY"}}
    env["M3O_VAR_DIR"] = str(tmp_path)  # no `make run` settings file, as in production
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) is required" in result.stderr
