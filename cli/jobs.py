"""`m3o run-command` (Heroku's `heroku run`) and `m3o cron ...`."""

from __future__ import annotations

import shlex
import sys

import click

from cli import output
from cli.app import cli
from cli.context import Context, env_option, json_option, pass_context


def _note(ctx: Context, text: str, **style) -> None:
    click.echo(click.style(text, **style), err=True)


@cli.command("run-command", context_settings={"ignore_unknown_options": True})
@click.argument("service")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--detach", "-d", is_flag=True, help="Return once queued; see it with `m3o cron runs`.")
@env_option
@json_option
@pass_context
def run_command(ctx: Context, service, command, detach, environment) -> None:
    """Run COMMAND once in a new container of SERVICE's live image, with its variables and network.

    m3o run-command web -- python manage.py migrate

    One word is run by /bin/sh as it is ("echo $HOME && ls"); several are quoted first.
    The output is printed as it comes and m3o exits with the command's exit code.
    """
    text = command[0] if len(command) == 1 else shlex.join(command)
    found = ctx.service(service, environment)
    run = ctx.api.post(f"services/{found['id']}/run/", {"command": text})
    _note(ctx, f"==> Run #{run['id']} of {found['name']}: {run['command']}", bold=True)
    if detach:
        if ctx.json:
            output.as_json(run)
        return
    final = None
    for item in ctx.api.stream(f"runs/{run['id']}/log/follow/"):
        if "run" in item:
            final = item["run"]
            break
        click.echo(item.get("text", ""), err=ctx.json)
    final = final or ctx.api.get(f"runs/{run['id']}/")  # the stream broke off: where it stands
    if ctx.json:
        output.as_json(final)
    sys.exit(_exit_code(ctx, final))


def _exit_code(ctx: Context, run: dict) -> int:
    if run["state"] in ("queued", "running"):
        _note(ctx, f"==> Run #{run['id']} is still {run['state']}; the connection ended first.", fg="yellow")
        return 1
    if run["exit_code"] is None:
        _note(ctx, f"==> {run['detail'] or run['state']}", fg="red")
        return 1
    if run["exit_code"] != 0:
        _note(ctx, f"==> Exited with code {run['exit_code']}", fg="red")
    return run["exit_code"]


@cli.group()
def cron() -> None:
    """Cron jobs: commands run on a schedule in one-off containers of a service's live image."""


@cron.command("add")
@click.argument("service")
@click.argument("schedule")
@click.argument("command")
@click.option(
    "--policy", type=click.Choice(["forbid", "replace", "allow"]), default="forbid", show_default=True,
    help="When a run is still going at the next time: skip the new one, stop the old one, or run both.",
)  # fmt: skip
@click.option("--timeout", type=int, help="Seconds a run may take before it is stopped (default 3600).")
@env_option
@json_option
@pass_context
def cron_add(ctx: Context, service, schedule, command, policy, timeout, environment) -> None:
    """Run COMMAND on SCHEDULE, five cron fields in UTC: m3o cron add web "*/5 * * * *" "python job.py" """
    found = ctx.service(service, environment)
    data = {"schedule": schedule, "command": command, "policy": policy}
    if timeout is not None:
        data["timeout"] = timeout
    job = ctx.api.post(f"services/{found['id']}/cron/", data)
    if ctx.json:
        output.as_json(job)
    else:
        click.echo(
            f"Cron job #{job['id']} added to {found['name']}; next run {output.when(job['next_run_at'])}."
        )


@cron.command("ls")
@click.argument("service")
@env_option
@json_option
@pass_context
def cron_ls(ctx: Context, service, environment) -> None:
    """The service's cron jobs."""
    found = ctx.service(service, environment)
    jobs = ctx.api.all(f"services/{found['id']}/cron/")
    if ctx.json:
        output.as_json(jobs)
        return
    rows = [{**j, "next": output.when(j["next_run_at"]) if j["enabled"] else "paused"} for j in jobs]
    columns = [("ID", "id"), ("SCHEDULE", "schedule"), ("COMMAND", "command"), ("POLICY", "policy"),
               ("TIMEOUT", "timeout"), ("NEXT RUN", "next")]  # fmt: skip
    output.table(rows, columns, f"{found['name']} has no cron jobs: `m3o cron add {found['name']} ...`.")


@cron.command("rm")
@click.argument("job_id", type=int)
@pass_context
def cron_rm(ctx: Context, job_id) -> None:
    """Remove a cron job (its run history stays); a run still going is stopped."""
    ctx.api.delete(f"cron/{job_id}/")
    click.echo(f"Cron job #{job_id} removed.")


@cron.command("pause")
@click.argument("job_id", type=int)
@pass_context
def cron_pause(ctx: Context, job_id) -> None:
    """Stop starting runs of a job until it is resumed."""
    ctx.api.patch(f"cron/{job_id}/", {"enabled": False})
    click.echo(f"Cron job #{job_id} paused.")


@cron.command("resume")
@click.argument("job_id", type=int)
@pass_context
def cron_resume(ctx: Context, job_id) -> None:
    """Start a paused job again, from its next time (the times it missed are not made up for)."""
    job = ctx.api.patch(f"cron/{job_id}/", {"enabled": True})
    click.echo(f"Cron job #{job_id} resumed; next run {output.when(job['next_run_at'])}.")


@cron.command("runs")
@click.argument("job_id", type=int)
@json_option
@pass_context
def cron_runs(ctx: Context, job_id) -> None:
    """A cron job's recent runs: state, exit code, duration."""
    runs = ctx.api.get(f"cron/{job_id}/runs/", page_size=50)["results"]
    if ctx.json:
        output.as_json(runs)
        return
    rows = [
        {**r, "exit": "" if r["exit_code"] is None else r["exit_code"], "took": _took(r["duration"]),
         "started": output.when(r["started_at"] or r["created_at"])}
        for r in runs
    ]  # fmt: skip
    columns = [("RUN", "id"), ("STARTED", "started"), ("STATE", "state"), ("EXIT", "exit"), ("TOOK", "took"),
               ("DETAIL", "detail")]  # fmt: skip
    output.table(rows, columns, f"Cron job #{job_id} has not run yet.")
    if runs:
        click.echo("The output of a run: m3o cron log RUN")


@cron.command("log")
@click.argument("run_id", type=int)
@pass_context
def cron_log(ctx: Context, run_id) -> None:
    """The output of one run (its last lines)."""
    run = ctx.api.get(f"runs/{run_id}/")
    if run["log"]:
        click.echo(run["log"])


def _took(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.1f} s"
