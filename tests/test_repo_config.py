"""m3o.toml: the health check a repository brings, read from the checkout at each deployment.

Hostile files (links, a FIFO, huge, not TOML, NUL bytes, unknown keys, values out of
bounds or of the wrong type) are refused as the user's error, naming the line or the
key and what is allowed. One real deployment (engine, worker, proxy) of an app that
is healthy only on /healthz runs because its m3o.toml says so, a bad m3o.toml fails
the next one before it builds, and the health monitor checks what m3o.toml asked.
"""

import os

import docker
import pytest
import requests
from django.conf import settings
from django.urls import reverse

from api import tokens
from deployments import actions, controls, health_monitor, repo_config
from deployments.errors import UserError
from deployments.models import Deployment, HealthEvent, Service
from deployments.repo_config import InvalidConfig
from environments.models import Environment
from ingress.names import service_url
from tests.conftest import log_text, wait_for
from tests.test_api import api_client
from tests.test_cli import M3O
from tests.waiting import eventually

FULL = b"""
# every key the platform reads
[healthcheck]
path = "/healthz"
status = "2xx, 301"
interval = 15
timeout = 2
start_period = 40
threshold = 4
grace_period = 60
"""


def test_a_full_healthcheck_table_is_read_and_cleaned_by_the_settings_rules():
    assert repo_config.parse(FULL) == {
        "path": "/healthz",
        "status": "2xx,301",
        "interval": 15,
        "timeout": 2,
        "start_period": 40,
        "threshold": 4,
        "grace_period": 60,
    }
    assert repo_config.parse(b"") == {}
    assert repo_config.parse(b"[healthcheck]\n") == {}
    assert repo_config.parse(b"healthcheck.path = '/up'\n") == {"path": "/up"}
    assert repo_config.parse(b"[healthcheck]\nstatus = 204\n") == {"status": "204"}


HOSTILE = [
    (b"[healthcheck\npath = '/'", "not valid TOML: Expected ']' at the end of a table declaration (at line"),
    (b"[healthcheck]\npath = /healthz\n", "not valid TOML: Invalid value (at line 2, column 8)"),
    (b"[healthcheck]\npath = '/a'\npath = '/b'\n", "not valid TOML: Cannot overwrite a value (at line 3"),
    (b"[healthcheck]\npath = '/\x00'\n", "character '\\x00' (at line 2, column 10)"),
    (b"\xff\xfe[healthcheck]", "m3o.toml is not UTF-8 text (byte 1)"),
    (b"[deploy]\nhealthcheckPath = '/'\n", "m3o.toml line 1: 'deploy' is not a setting the platform knows; "
     "it reads only the [healthcheck] table (path, status, interval, timeout, start_period, threshold, "
     "grace_period)"),
    (b"[healthcheck]\npath = '/'\n\n[build]\n", "m3o.toml line 4: 'build' is not a setting the platform"),
    (b"healthcheck = 'yes'\n", "m3o.toml: healthcheck must be a table, [healthcheck], holding path, status"),
    (b"[healthcheck]\n\n  retries = 3\n", "m3o.toml line 3, [healthcheck] 'retries' is not a health check "
     "setting; the settings are path, status, interval, timeout, start_period, threshold, grace_period"),
    (b"[healthcheck]\ninterval = 0\n", "m3o.toml line 2, [healthcheck] 'interval': The check interval must "
     "be between 1 and 300 seconds."),
    (b"[healthcheck]\ntimeout = 61\n", "'timeout': The check timeout must be between 1 and 60 seconds."),
    (b"[healthcheck]\nstart_period = -1\n", "The start period must be between 0 and 600 seconds."),
    (b"[healthcheck]\nthreshold = 11\n", "The failure threshold must be between 1 and 10 checks."),
    (b"[healthcheck]\ngrace_period = 100000000000000000\n", "The grace period must be between 0 and 300"),
    (b"[healthcheck]\ninterval = true\n", "'interval' must be a whole number from 1 to 300, without quotes"),
    (b"[healthcheck]\ninterval = 1.5\n", "'interval' must be a whole number from 1 to 300"),
    (b"[healthcheck]\ninterval = '10'\n", "'interval' must be a whole number from 1 to 300"),
    (b"[healthcheck]\ntimeout = [1, 2]\n", "'timeout' must be a whole number from 1 to 60"),
    (b"[healthcheck]\npath = 200\n", "'path' must be a string, such as \"/healthz\""),
    (b"[healthcheck]\npath = 'http://169.254.169.254/latest/meta-data/'\n", "not a full URL"),
    (b"[healthcheck]\npath = '/static/../../etc/passwd'\n", "may not hold .. segments"),
    (b'[healthcheck]\npath = "/h\\u0000"\n', "may not hold line breaks or other control characters"),
    (b'[healthcheck]\npath = "/h\\r\\nHost: evil"\n', "may not hold line breaks or other control characters"),
    (b"[healthcheck]\nstatus = 'ok'\n", "'status': The expected status is HTTP codes or ranges"),
    (b"[healthcheck]\nstatus = 600\n", "'status': The expected status is HTTP codes or ranges"),
    (b"[healthcheck]\nstatus = true\n", "'status' must be a string of codes or ranges, such as \"200-399\""),
    (b"[healthcheck]\n" + b"x" * 60_000 + b" = 1\n", "is not a health check setting"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "message"), HOSTILE)
def test_a_bad_m3o_toml_is_refused_with_where_and_what_is_allowed(data, message):
    with pytest.raises(InvalidConfig) as refused:
        repo_config.parse(data)
    assert message in str(refused.value)
    assert len(str(refused.value)) < 400  # a huge key or value is not repeated back


def test_links_fifos_and_huge_files_in_m3o_toml_s_place_are_refused(tmp_path):
    outside = tmp_path / "outside.toml"
    outside.write_bytes(FULL)
    folder = tmp_path / "checkout"
    folder.mkdir()
    assert repo_config.load(folder) == {}  # no m3o.toml: the service's settings

    target = folder / "m3o.toml"
    for link in ("/etc/passwd", str(outside), "../outside.toml", "real.toml", "m3o.toml"):
        (folder / "real.toml").write_bytes(FULL)
        target.symlink_to(link)
        with pytest.raises(InvalidConfig, match=r"m3o\.toml is a symbolic link"):
            repo_config.load(folder)
        target.unlink()

    os.mkfifo(target)  # never opened: reading it would block the worker
    with pytest.raises(UserError, match="not a regular file"):
        repo_config.load(folder)
    target.unlink()

    target.write_bytes(b"# " + b"x" * (repo_config.MAX_SIZE - 3) + b"\n")
    assert repo_config.load(folder) == {}  # 64 KB exactly is read
    target.write_bytes(b"#" * (repo_config.MAX_SIZE + 1))
    with pytest.raises(UserError, match=r"m3o\.toml is larger than 64 KB"):
        repo_config.load(folder)

    # The service's folder being a link out of the checkout is refused by source.source_dir
    # before m3o.toml is looked for; a folder called m3o.toml is no file at all.
    target.unlink()
    target.mkdir()
    assert repo_config.load(folder) == {}


def service_of(user, name="web") -> Service:
    env, _ = Environment.objects.get_or_create(owner=user, name="production")
    return Service.objects.create(
        environment=env, name=name, repository_url=f"https://example.com/{name}.git"
    )


def live(service: Service, repository: dict) -> Deployment:
    deployment = Deployment.objects.create(
        service=service, branch="main", state=Deployment.State.RUNNING, repository_health_check=repository
    )
    service.live_deployment = deployment
    service.save(update_fields=["live_deployment"])
    return deployment


@pytest.mark.django_db
def test_the_repository_s_values_win_the_rest_come_from_the_service_and_a_rollback_keeps_them(
    alice, settings
):
    web = service_of(alice)
    Service.objects.filter(pk=web.pk).update(health_check_path="/", health_check_threshold=5)
    web.refresh_from_db()
    built = live(web, {"path": "/healthz", "interval": 1})
    check = repo_config.health_check(built)
    assert (check.path, check.interval, check.threshold) == ("/healthz", 1, 5)
    assert (check.status, check.grace_period) == ("200-499", settings.STOP_TIMEOUT)
    assert check.from_repository == ("path", "interval")
    assert repo_config.grace_period(web, built.pk) == settings.STOP_TIMEOUT

    # A rollback runs the earlier commit's image: that commit's m3o.toml comes along.
    said = []
    rollback = Deployment.objects.create(service=web, branch="main", source=built)
    repo_config.copy(built, rollback, said.append)
    rollback = Deployment.objects.get(pk=rollback.pk)
    assert rollback.repository_health_check == {"path": "/healthz", "interval": 1}
    assert said == [
        "==> Health check from m3o.toml: GET /healthz expects 200-499, every 1 s (timeout 5 s), "
        "5 failed in a row take an instance out, start period 0 s, grace period 30 s "
        "(path, interval from m3o.toml; the rest from the service's settings)"
    ]
    # A commit without m3o.toml: the service's settings again.
    plain = Deployment.objects.create(service=web, branch="main")
    assert repo_config.health_check(plain).path == "/"
    assert repo_config.health_check(plain).from_repository == ()


@pytest.mark.django_db
def test_the_settings_page_and_the_api_say_what_m3o_toml_sets_and_the_form_does_not_change_it(alice, client):
    web = service_of(alice)
    live(web, {"path": "/healthz", "grace_period": 7})
    answer = api_client(alice).get(f"/api/services/{web.pk}/").json()
    assert answer["health_check_from_repository"] == {"health_check_path": "/healthz", "stop_grace_period": 7}
    assert answer["health_check_path"] == "/"  # the service's own setting, kept for when m3o.toml goes

    client.force_login(alice)
    page = client.get(reverse("service-settings", args=[web.pk])).content.decode()
    assert "greyed-out health check fields" in page
    assert 'name="health_check_path" value="/healthz"' in page
    assert "disabled" in page
    form = {f: getattr(web, f) for f in ("name", "repository_url", "branch", "subdirectory", "port")}
    form |= {"health_check_path": "/changed", "stop_grace_period": "", "health_check_threshold": "6"}
    assert client.post(reverse("service-settings", args=[web.pk]), form).status_code == 302
    web.refresh_from_db()
    assert (web.health_check_path, web.stop_grace_period, web.health_check_threshold) == ("/", None, 6)

    shown = client.get(reverse("service", args=[web.pk])).content.decode()
    assert "GET /healthz" in shown
    assert "path, grace_period: set by the repository" in shown


@pytest.mark.docker
def test_a_repositorys_m3o_toml_decides_its_health_check_at_the_switch_and_afterwards(
    worker, alice, make_repo, localhost_names, live_server, tmp_path
):
    repo = make_repo("health-toml")
    queued = actions.deploy_repository(alice, name="tomly", repository_url=repo.url)
    # The service's own settings would never see it up (/ answers 500) and check it rarely.
    Service.objects.filter(pk=queued.service_id).update(
        health_check_path="/", health_check_status="200", health_check_interval=300, health_check_threshold=5
    )
    deployment = wait_for(queued)
    assert deployment.state == Deployment.State.RUNNING, log_text(deployment)
    assert deployment.repository_health_check["threshold"] == 2
    assert (
        "==> Health check from m3o.toml: GET /healthz expects 200-299, every 1 s (timeout 1 s), "
        "2 failed in a row take an instance out, start period 0 s, grace period 2 s "
        "(path, status, interval, timeout, threshold, grace_period from m3o.toml; "
        "the rest from the service's settings)"
    ) in log_text(deployment)
    service = Service.objects.get(pk=queued.service_id)
    url = service_url(service)
    assert requests.get(f"{url}healthz", timeout=5).status_code == 200
    assert requests.get(url, timeout=5).status_code == 500
    _, raw = tokens.create_token(alice, "cli")
    env = {"M3O_URL": live_server.url, "M3O_TOKEN": raw}
    shown = M3O(tmp_path / "config", live_server.url).ok("settings", "tomly", **env)
    assert "Health check path:   /  (m3o.toml in the repository says /healthz, which wins)" in shown
    assert "Start period (s):    0\n" in shown  # not in m3o.toml: the service's own

    # A commit with a bad m3o.toml fails before it builds; the running one serves on.
    repo.commit("Check every 0 s", {"m3o.toml": "[healthcheck]\npath = '/healthz'\ninterval = 0\n"})
    bad = wait_for(actions.request_deploy(service, alice))
    assert bad.state == Deployment.State.FAILED
    assert bad.failure_reason == (
        "m3o.toml line 3, [healthcheck] 'interval': The check interval must be between 1 and 300 seconds."
    )
    assert "Step 1/" not in log_text(bad)
    engine = docker.from_env()
    mine = [f"org.m3o.platform={settings.PLATFORM_NAME}", f"org.m3o.deployment={bad.pk}"]
    assert engine.containers.list(all=True, filters={"label": mine}) == []
    assert not engine.images.list(name=f"{settings.PLATFORM_NAME}-app/s{bad.service_id}:d{bad.pk}")
    assert not list(settings.WORKSPACE_DIR.glob(f"d{bad.pk}-*")), "the checkout was left behind"
    assert requests.get(f"{url}healthz", timeout=5).status_code == 200

    # The next commit asks for 4 failures; a rollback to the first brings its 2 back.
    repo.commit("Patient", {"m3o.toml": "[healthcheck]\npath = '/healthz'\nthreshold = 4\n"})
    patient = wait_for(actions.request_deploy(service, alice))
    assert patient.state == Deployment.State.RUNNING, log_text(patient)
    assert patient.repository_health_check == {"path": "/healthz", "threshold": 4}
    service.refresh_from_db()
    deployment = wait_for(controls.rollback(service, Deployment.objects.get(pk=deployment.pk), alice))
    assert deployment.state == Deployment.State.RUNNING, log_text(deployment)
    assert deployment.repository_health_check["threshold"] == 2
    assert "==> Health check from m3o.toml: GET /healthz expects 200-299, every 1 s" in log_text(deployment)

    # The monitor checks /healthz (which passes, where / would not), every second, and two
    # failures in a row take the instance out: m3o.toml's numbers, not the service's.
    health_monitor.monitor()
    deployment.refresh_from_db()
    assert deployment.health_checked_at is not None
    assert deployment.health_failures == 0
    requests.get(f"{url}break", timeout=5)

    def taken_out():
        health_monitor.monitor()
        return HealthEvent.objects.filter(deployment=deployment, kind=HealthEvent.Kind.TAKEN_OUT).first()

    event = eventually(taken_out, timeout=20, interval=0.3)
    assert "failed 2 health checks in a row (HTTP 500, expected 200-299)" in event.detail
    # A worker restarts it with m3o.toml's grace period, not the platform's 30 s.
    restarted = eventually(
        lambda: HealthEvent.objects.filter(deployment=deployment, kind=HealthEvent.Kind.RESTARTED).first(),
        timeout=30,
    )
    assert "then SIGKILL after 2 s" in restarted.detail
