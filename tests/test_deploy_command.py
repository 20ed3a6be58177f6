"""`manage.py deploy` goes through the same action as the dashboard, and --wait tells the outcome."""

import os
import subprocess
import sys

import pytest
import requests

from deployments.models import Deployment, Service
from tests.conftest import ROOT, database_url

pytestmark = [pytest.mark.docker]


def manage(*args, queue):
    env = {**os.environ, "DATABASE_URL": database_url(), "DEPLOY_QUEUE": queue}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_deploy_and_wait_prints_the_log_and_ends_with_the_url(worker, admin_user, make_repo, localhost_names):
    repo = make_repo("static-site")
    result = manage("deploy", repo.url, "--name", "site", "--env", "staging", "--wait", queue=worker.queue)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "==> Healthy after" in result.stdout
    url = lines[-1]
    assert url.startswith("http://site-staging.localhost:")
    assert "hello from static-site" in requests.get(url, timeout=5).text
    service = Service.objects.get(name="site")
    assert service.environment.name == "staging"
    assert service.environment.owner == admin_user
    assert service.deployments.get().state == Deployment.State.RUNNING


def test_failed_deploy_exits_non_zero_with_the_reason(worker, admin_user, make_repo):
    repo = make_repo("no-language")
    result = manage("deploy", repo.url, "--name", "docs", "--wait", queue=worker.queue)
    assert result.returncode != 0
    assert "failed: Don't know how to build this" in result.stderr


def test_a_bad_url_is_refused_before_anything_is_queued(worker, admin_user):
    result = manage("deploy", "--name", "evil", "--", "--upload-pack=touch /tmp/x", queue=worker.queue)
    assert result.returncode != 0
    assert "A repository URL cannot start with a dash." in result.stderr
    assert not Deployment.objects.exists()


def test_user_must_be_named_when_there_is_no_single_superuser(worker, alice, make_repo):
    result = manage("deploy", make_repo("static-site").url, "--name", "site", queue=worker.queue)
    assert result.returncode != 0
    assert "Name the user with --user" in result.stderr
    result = manage(
        "deploy",
        make_repo("static-site").url,
        "--name",
        "site",
        "--user",
        "alice@example.com",
        queue=worker.queue,
    )
    assert result.returncode == 0, result.stderr
    assert Service.objects.get(name="site").environment.owner == alice
