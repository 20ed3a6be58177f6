"""Cron jobs and one-off commands (`m3o cron`, `m3o run-command`).

The schedule, the claim and the policies are driven with a clock the test passes in
(beat calls the same function with the time now); the runs themselves go through the
real worker and engine, with one deploy of the smallest sample app for the module's
engine test.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from api import tokens
from billing.models import Plan
from billing.quotas import account_for
from deployments import actions as deploy_actions
from deployments.actions import ActionError
from deployments.models import Deployment, Service
from deployments.variables import set_variable
from environments.actions import add_member, get_or_create_environment
from environments.models import Environment
from jobs import actions, schedules
from jobs.models import CronJob, JobRun
from tests import own
from tests.conftest import log_text, make_user, wait_for
from tests.test_api import api_client
from tests.test_cli import M3O
from tests.waiting import eventually

State = JobRun.State
T0 = datetime(2026, 12, 2, 22, 3, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("junk", "words"),
    [
        ("", "has five fields"),
        ("* * *", "has 3"),
        ("* * * * * *", "has 6"),
        ("61 * * * *", "The minute field '61' is not valid"),
        ("* 24 * * *", "The hour field '24'"),
        ("*/0 * * * *", "The minute field '*/0'"),
        ("* * * * 8", "The day of the week field '8'"),
        ("0 0 30 2 *", "never occurs"),
        ("; rm -rf / * * * *", "has 8"),
        ("*" * 500, "at most 100 characters"),
    ],
)
def test_a_malformed_schedule_is_refused_saying_what_is_wrong(junk, words):
    with pytest.raises(schedules.InvalidSchedule) as refused:
        schedules.parse(junk)
    assert words in str(refused.value)


def test_the_next_time_follows_crons_rules():
    def following(text, moment=T0):
        return schedules.next_after(schedules.parse(text), moment)

    assert following("*/5 * * * *") == T0.replace(minute=5, second=0)
    assert following("*/5 * * * *", T0.replace(minute=5, second=0)) == T0.replace(minute=10, second=0)
    assert following("30 4 * * mon-fri") == datetime(2026, 12, 3, 4, 30, tzinfo=UTC)  # a Thursday
    assert following("0 0 29 2 *") == datetime(2028, 2, 29, tzinfo=UTC)
    # A day of the month and a day of the week both set: either one (1 Jan 2027 is a Friday).
    assert following("0 0 1 * 1") == datetime(2026, 12, 7, tzinfo=UTC)
    assert following("@daily") == datetime(2026, 12, 3, tzinfo=UTC)


@pytest.fixture
def web(alice):
    """A running service as the database sees it; these tests start no container."""
    production = get_or_create_environment(alice, "production")
    service = Service.objects.create(
        environment=production, name="web", repository_url="https://example.com/w.git"
    )
    live = Deployment.objects.create(
        service=service, state=Deployment.State.RUNNING, image="x:1", branch="main"
    )
    Service.objects.filter(pk=service.pk).update(live_deployment=live)
    service.refresh_from_db()
    return service


def _job(web, alice, policy="forbid", schedule="*/5 * * * *") -> CronJob:
    return actions.add_cron_job(web, alice, schedule=schedule, command="python job.py", policy=policy, now=T0)


@pytest.mark.django_db
def test_a_missed_window_runs_once_and_two_beats_at_once_start_it_once(web, alice):
    job = _job(web, alice)
    assert job.next_run_at == T0.replace(minute=5, second=0)
    assert actions.start_due_cron_jobs(T0) == []  # not due yet
    back = T0 + timedelta(hours=3)  # beat was down for three hours: 36 times were missed
    started = actions.start_due_cron_jobs(back)
    assert [run.state for run in started] == [State.QUEUED]
    assert actions.start_due_cron_jobs(back) == []  # a second beat (or a late pass) at the same time
    job.refresh_from_db()
    assert job.next_run_at == back.replace(minute=5, second=0)
    assert JobRun.objects.filter(cron_job=job).count() == 1
    # Paused, it is never due; resumed, it comes at its next time from then, nothing made up for.
    actions.set_cron_job_enabled(job, False, alice)
    assert actions.start_due_cron_jobs(back + timedelta(hours=1)) == []
    actions.set_cron_job_enabled(job, True, alice, now=back + timedelta(hours=2))
    job.refresh_from_db()
    assert job.next_run_at == back.replace(minute=5, second=0) + timedelta(hours=2)


@pytest.mark.django_db
def test_forbid_skips_while_a_run_goes_replace_stops_it_allow_runs_both(web, alice):
    forbid, replace, allow = (_job(web, alice, policy) for policy in ("forbid", "replace", "allow"))
    first = {run.cron_job_id: run for run in actions.start_due_cron_jobs(T0 + timedelta(minutes=5))}
    JobRun.objects.filter(pk__in=[r.pk for r in first.values()]).update(state=State.RUNNING)
    second = {run.cron_job_id: run for run in actions.start_due_cron_jobs(T0 + timedelta(minutes=10))}
    assert second[forbid.pk].state == State.SKIPPED
    assert f"run #{first[forbid.pk].pk} was still going" in second[forbid.pk].detail
    assert JobRun.objects.get(pk=first[replace.pk].pk).stop_requested
    assert second[replace.pk].state == State.QUEUED
    assert JobRun.objects.filter(cron_job=allow, state__in=JobRun.ACTIVE).count() == 2
    assert not JobRun.objects.get(pk=first[allow.pk].pk).stop_requested
    # A stopped service's job is skipped, saying why.
    Deployment.objects.filter(service=web).update(state=Deployment.State.STOPPED)
    JobRun.objects.update(state=State.SUCCEEDED)
    third = actions.start_due_cron_jobs(T0 + timedelta(minutes=15))
    assert {run.detail for run in third} == {"Skipped: web is not running."}
    assert actions.start_due_cron_jobs(T0 + timedelta(minutes=20)) == []  # said once, not every time
    # An environment deleted keeps its services' history, and its jobs never come again.
    Environment.objects.filter(pk=web.environment_id).update(deleted_at=T0)
    Deployment.objects.filter(service=web).update(state=Deployment.State.RUNNING)
    assert actions.start_due_cron_jobs(T0 + timedelta(hours=1)) == []


@pytest.mark.django_db
def test_a_run_whose_worker_died_is_given_up_after_its_time_limit(web, alice):
    job = _job(web, alice)
    (run,) = actions.start_due_cron_jobs(T0 + timedelta(minutes=5))
    JobRun.objects.filter(pk=run.pk).update(state=State.RUNNING, started_at=T0 + timedelta(minutes=5))
    actions.start_due_cron_jobs(T0 + timedelta(minutes=5, seconds=job.timeout + 120))
    run.refresh_from_db()
    assert (run.state, run.detail) == (State.FAILED, "Lost: the worker running it stopped.")


@pytest.mark.django_db
def test_the_plan_limits_the_number_of_cron_jobs(web, alice):
    account = account_for(alice)  # the seeded plans are there from here on
    Plan.objects.filter(slug="pro").update(stripe_price_id="price_pro")  # plans hold once one is sold
    Plan.objects.filter(pk=account.plan_id).update(max_cron_jobs=1)
    _job(web, alice)
    with pytest.raises(
        ActionError, match=r"plan allows 1 cron job and 1 is set; remove one, or upgrade at http"
    ):
        _job(web, alice)


@pytest.mark.django_db
def test_strangers_get_404_viewers_may_look_but_not_add_or_run_and_junk_is_refused(web, alice):
    bob, carol, dave = make_user("bob"), make_user("carol"), make_user("dave")
    add_member(web.environment, carol.email, "viewer", alice)
    add_member(web.environment, dave.email, "member", alice)
    job = _job(web, alice)
    run = actions.run_command(web, "echo hi", alice)
    alices, bobs, carols, daves = (api_client(u) for u in (alice, bob, carol, dave))
    cron, runs = f"/api/services/{web.pk}/cron/", f"/api/cron/{job.pk}/runs/"
    for asker in (bobs, carols):
        assert asker.post(f"/api/services/{web.pk}/run/", {"command": "id"}, format="json").status_code == 404
        assert asker.post(cron, {"schedule": "* * * * *", "command": "id"}, format="json").status_code == 404
        assert asker.delete(f"/api/cron/{job.pk}/").status_code == 404
    for path in (cron, runs, f"/api/runs/{run.pk}/", f"/api/runs/{run.pk}/log/follow/"):
        assert bobs.get(path).status_code == 404, path
    assert [j["id"] for j in carols.get(cron).json()["results"]] == [job.pk]
    assert carols.get(f"/api/runs/{run.pk}/").json()["command"] == "echo hi"
    # A member runs and adds; junk gets words, not a 500.
    assert daves.post(f"/api/services/{web.pk}/run/", {"command": "id"}, format="json").status_code == 201
    for bad, words in [
        ({"schedule": "every minute", "command": "id"}, "has 2"),
        ({"schedule": "99 * * * *", "command": "id"}, "minute field '99'"),
        ({"schedule": "* * * * *", "command": "x" * 5000}, "at most 4000 characters"),
        ({"schedule": "* * * * *", "command": "id\x00"}, "Null characters are not allowed"),
        ({"schedule": "* * * * *", "command": "id", "policy": "sometimes"}, "policy"),
        ({"schedule": "* * * * *", "command": "id", "timeout": -5}, "time limit"),
    ]:
        answer = daves.post(cron, bad, format="json")
        assert answer.status_code == 400, (bad, answer.json())
        assert words in answer.json()["error"], (bad, answer.json())
    huge = alices.post(f"/api/services/{web.pk}/run/", {"command": "y" * 200_000}, format="json")
    assert huge.status_code == 400
    assert carols.patch(f"/api/cron/{job.pk}/", {"enabled": False}, format="json").status_code == 404
    paused = daves.patch(f"/api/cron/{job.pk}/", {"enabled": False}, format="json")
    assert (paused.status_code, paused.json()["enabled"]) == (200, False)
    assert alices.delete(f"/api/cron/{job.pk}/").status_code == 204
    assert CronJob.objects.filter(service=web).count() == 0
    # Another tenant's job id is no way in either, even once it is gone.
    assert bobs.delete(f"/api/cron/{job.pk}/").status_code == 404


def _containers_of(service: Service) -> list:
    return own.containers(service=service.pk)


@pytest.mark.docker
def test_one_off_commands_and_a_forbid_cron_job_on_the_engine(
    live_server, worker, alice, make_repo, tmp_path
):
    repo = make_repo("static-site")
    deployment = wait_for(deploy_actions.deploy_repository(alice, name="site", repository_url=repo.url))
    assert deployment.state == Deployment.State.RUNNING, log_text(deployment)
    site = deployment.service
    set_variable(site, "GREETING", "hello from the service's variables", by=alice)
    m3o = M3O(tmp_path / "config", live_server.url)
    m3o.ok("login", "--url", live_server.url, "--token", tokens.create_token(alice, "cli")[1])

    # `m3o run-command`: the output as printed, the variables, and the command's own exit code.
    failing = m3o("run-command", "site", "--", "sh", "-c", 'echo "$GREETING"; echo to-stderr >&2; exit 3')
    assert failing.returncode == 3, failing.stderr
    assert "hello from the service's variables" in failing.stdout
    assert "to-stderr" in failing.stdout
    assert "Exited with code 3" in failing.stderr
    ok = m3o("run-command", "site", "echo one && echo two")
    assert (ok.returncode, ok.stdout.split()) == (0, ["one", "two"]), ok.stderr
    assert [r.exit_code for r in JobRun.objects.filter(service=site).order_by("pk")] == [3, 0]

    # `m3o cron add/ls/rm`, with junk refused in the server's words.
    bad = m3o("cron", "add", "site", "*/5 * *", "echo hi")
    assert bad.returncode != 0
    assert "has 3" in bad.stderr
    added = m3o.ok("cron", "add", "site", "*/5 * * * *", "echo hi", "--policy", "allow", "--timeout", "60")
    listed = CronJob.objects.get(service=site)
    assert f"Cron job #{listed.pk} added to site" in added
    assert (listed.policy, listed.timeout) == ("allow", 60)
    assert "*/5 * * * *" in m3o.ok("cron", "ls", "site")
    m3o.ok("cron", "pause", str(listed.pk))
    assert "paused" in m3o.ok("cron", "ls", "site")
    assert "resumed; next run" in m3o.ok("cron", "resume", str(listed.pk))
    m3o.ok("cron", "rm", str(listed.pk))
    assert "site has no cron jobs" in m3o.ok("cron", "ls", "site")

    # forbid: a command that outlives its interval is never run twice at once, and its
    # time limit stops it.
    job = actions.add_cron_job(
        site,
        alice,
        schedule="* * * * *",
        command="echo started; sleep 60",
        policy="forbid",
        timeout=4,
        now=T0,
    )
    (first,) = actions.start_due_cron_jobs(T0 + timedelta(minutes=1))
    eventually(
        lambda: JobRun.objects.get(pk=first.pk).state == State.RUNNING, message="the run never started"
    )
    (second,) = actions.start_due_cron_jobs(T0 + timedelta(minutes=2))
    assert second.state == State.SKIPPED
    first = eventually(
        lambda: JobRun.objects.filter(pk=first.pk).exclude(state=State.RUNNING).first(), timeout=60
    )
    assert (first.state, first.exit_code) == (State.TIMED_OUT, None)
    assert "started" in first.log
    assert "time limit of 4 s" in first.log
    assert 4 <= first.duration < 30
    assert m3o.ok("cron", "runs", str(job.pk)).count("timed_out") == 1
    assert [c.name for c in _containers_of(site) if "_run" in c.name] == []

    # replace: the next time stops the run still going and starts its own; removing the job
    # stops that one.
    job = actions.add_cron_job(
        site, alice, schedule="* * * * *", command="sleep 60", policy="replace", now=T0
    )
    (old,) = actions.start_due_cron_jobs(T0 + timedelta(minutes=1))
    eventually(lambda: JobRun.objects.get(pk=old.pk).state == State.RUNNING, message="the run never started")
    (new,) = actions.start_due_cron_jobs(T0 + timedelta(minutes=2))
    eventually(
        lambda: JobRun.objects.get(pk=old.pk).state == State.STOPPED, timeout=60, message="not replaced"
    )
    eventually(
        lambda: JobRun.objects.get(pk=new.pk).state == State.RUNNING, message="the new run never started"
    )
    actions.remove_cron_job(job, alice)
    eventually(
        lambda: JobRun.objects.get(pk=new.pk).state == State.STOPPED, timeout=60, message="not stopped"
    )
    eventually(
        lambda: not [c for c in _containers_of(site) if "_run" in c.name], message="a run's container stayed"
    )


@pytest.mark.django_db
def test_the_cron_jobs_page_adds_lists_and_shows_runs_with_exit_code_and_log(client, web, alice):
    carol = make_user("carol")
    add_member(web.environment, carol.email, "viewer", alice)
    client.force_login(alice)
    page = reverse("service-cron", args=[web.pk])
    assert (
        reverse("service-cron", args=[web.pk])
        in client.get(reverse("service", args=[web.pk])).content.decode()
    )
    refused = client.post(reverse("service-cron", args=[web.pk]), {"schedule": "5 * *", "command": "x"})
    assert refused.status_code == 400
    assert "has 3" in refused.content.decode()
    added = client.post(
        reverse("service-cron", args=[web.pk]),
        {"schedule": "0  3 * * mon", "command": "python report.py", "policy": "replace", "timeout": "120"},
    )
    assert added.status_code == 302
    job = CronJob.objects.get(service=web)
    assert (job.schedule, job.policy, job.timeout) == ("0 3 * * mon", "replace", 120)
    run = JobRun.objects.create(
        service=web, cron_job=job, command=job.command, timeout=120, state=State.FAILED, exit_code=2,
        started_at=T0, finished_at=T0 + timedelta(seconds=4), log="report: <no data>",
    )  # fmt: skip
    text = client.get(page).content.decode()
    assert "python report.py" in text
    assert reverse("run", args=[run.pk]) in text
    assert ">2<" in text  # the exit code
    assert "4.0 s" in text
    log = client.get(reverse("run", args=[run.pk])).content.decode()
    assert "report: &lt;no data&gt;" in log  # the app's output, escaped
    # A viewer reads the page but gets no form, and a post changes nothing.
    client.force_login(carol)
    assert "Add cron job" not in client.get(page).content.decode()
    posted = client.post(reverse("service-cron", args=[web.pk]), {"schedule": "* * * * *", "command": "id"})
    assert posted.status_code == 404
    assert client.post(reverse("cron-remove", args=[job.pk])).status_code == 404
    assert CronJob.objects.filter(service=web).count() == 1
