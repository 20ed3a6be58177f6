"""Deploying and running: run, logs, ps, ps:scale, rollback, cancel, stop, start, restart, delete."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import click

from cli import output
from cli.app import cli
from cli.client import CliError
from cli.confirm import ask, replace_refused, yes_option
from cli.context import Context, env_option, json_option, pass_context, slug
from cli.pack import pack


def _note(ctx: Context, text: str, **style) -> None:
    # With --json, stdout carries JSON alone; what people read goes to stderr.
    click.echo(click.style(text, **style), err=ctx.json)


def follow_build(ctx: Context, deployment_id: int, after: int = 0) -> dict:
    """Print the build log as it comes; return the deployment once it has settled."""
    for item in ctx.api.stream(f"deployments/{deployment_id}/log/follow/", after=after):
        if "deployment" in item:
            return item["deployment"]
        _note(ctx, item.get("text", ""))
    # The stream broke off early (a restart of the server): say where things stand.
    return ctx.api.get(f"deployments/{deployment_id}/")


def finish(ctx: Context, deployment: dict, detach: bool) -> None:
    """Follow a new deployment to its end; exit non-zero unless it runs."""
    _note(ctx, f"==> Deployment #{deployment['id']} of {deployment['service_name']} "
          f"in {deployment['environment_name']} queued", bold=True)  # fmt: skip
    if detach:
        if ctx.json:
            output.as_json(deployment)
        return
    final = follow_build(ctx, deployment["id"])
    if ctx.json:
        output.as_json(final)
    if final["state"] == "running":
        _note(ctx, f"==> {final['service_name']} is running at {final['url']}", fg="green", bold=True)
        return
    reason = final.get("failure_reason") or f"it is {final['state']}"
    _note(ctx, f"==> Deployment #{final['id']} did not go live: {reason}", fg="red", bold=True)
    sys.exit(1)


_detach = click.option("--detach", "-d", is_flag=True, help="Return once queued, without waiting.")


@cli.command()
@click.argument("source")
@click.option("--name", "-n", help="The service's name (default: from the folder or repository).")
@env_option
@click.option("--branch", "-b", default="", help="For a repository URL (default: its default branch).")
@click.option("--path", "-p", "subdirectory", default="", help="The service's folder in a monorepo.")
@click.option("--port", type=int, help="The port the app listens on (default 8080, given as $PORT).")
@click.option("--start", "start_command", help="Start command (instead of the Procfile or detection).")
@click.option("--build", "build_command", help="Build command, run in the image after the dependencies.")
@click.option("--release", "predeploy_command", help="Pre-deploy command, run before it goes live.")
@click.option("--replace", is_flag=True, help="Switch a service of this name that deploys something else.")
@_detach
@json_option
@pass_context
def run(
    ctx: Context, source: str, name, environment, branch, subdirectory, port,
    start_command, build_command, predeploy_command, replace, detach,
) -> None:  # fmt: skip
    """Deploy a repository URL, or a local folder (`m3o run .`), and follow the build."""
    environment = environment or ctx.settings.environment
    folder = Path(source).expanduser()
    fields = {"environment": environment, "path": subdirectory, "replace": replace}
    if port:
        fields["port"] = port
    for field, value in (
        ("start_command", start_command),
        ("build_command", build_command),
        ("predeploy_command", predeploy_command),
    ):
        if value is not None:
            fields[field] = value
    if folder.is_dir():
        folder = folder.resolve()
        archive, count = pack(folder)
        fields["name"] = name or slug(folder.name)
        _note(ctx, f"==> Uploading {count} files ({max(1, len(archive) // 1024)} KB) from {folder}")
        try:
            deployment = ctx.api.upload("services/upload/", fields, archive)
        except CliError as exc:
            raise replace_refused(exc) from None
    else:
        fields.update(name=name or slug(source), repository_url=source, branch=branch)
        try:
            deployment = ctx.api.post("services/", fields)
        except CliError as exc:
            raise replace_refused(exc) from None
    finish(ctx, deployment, detach)


def _since(text: str | None) -> float | None:
    if not text:
        return None
    match = re.fullmatch(r"(\d+)\s*([smhd]?)", text.strip())
    if not match:
        raise click.BadParameter("use a duration such as 30s, 10m, 2h or 1d", param_hint="--since")
    seconds = int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
    return time.time() - seconds


def _build_log(ctx: Context, service: dict, follow: bool, grep: str) -> None:
    newest = ctx.api.get(f"services/{service['id']}/deployments/", page_size=1)["results"]
    if not newest:
        raise CliError(f"{service['name']} has no deployments yet.")
    deployment_id = newest[0]["id"]
    if follow:
        lines = ctx.api.stream(f"deployments/{deployment_id}/log/follow/")
    else:
        lines = _build_pages(ctx, deployment_id)
    for line in lines:
        if "text" in line and grep.lower() in line["text"].lower():
            output.as_json(line) if ctx.json else click.echo(line["text"])


def _build_pages(ctx: Context, deployment_id: int):
    after = 0
    while True:
        page = ctx.api.get(f"deployments/{deployment_id}/log/", after=after)
        yield from page["lines"]
        if not page["lines"]:
            return
        after = page["next_after"]


def _print_runtime_line(ctx: Context, line: dict) -> None:
    if ctx.json:
        click.echo(json.dumps(line))
    else:
        click.echo(click.style(line["time"][:19].replace("T", " "), dim=True) + " " + line["text"])


@cli.command()
@click.argument("service")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines as they come.")
@click.option("--build", is_flag=True, help="The build log of the latest deployment, not the app's output.")
@click.option("--since", help="Only lines from this long ago: 30s, 10m, 2h, 1d.")
@click.option("--grep", default="", help="Only lines containing this text (any case).")
@click.option("--tail", default=200, show_default=True, help="How many of the last lines to start with.")
@click.option("--process", "-p", default="web", show_default=True, help="The process type: web, worker, ...")
@env_option
@json_option
@pass_context
def logs(ctx: Context, service, follow, build, since, grep, tail, process, environment) -> None:
    """The app's own output (or its build log with --build)."""
    found = ctx.service(service, environment)
    if build:
        _build_log(ctx, found, follow, grep)
        return
    params = {"tail": tail, "grep": grep, "process": process}
    if (start := _since(since)) is not None:
        params["since"] = f"{start:.3f}"
    if follow:
        for line in ctx.api.stream(f"services/{found['id']}/logs/follow/", **params):
            if "error" in line:
                raise CliError(line["error"])
            _print_runtime_line(ctx, line)
        return
    answer = ctx.api.get(f"services/{found['id']}/logs/", **params)
    if not answer["running"]:
        _note(ctx, f"{found['name']} is not running.", fg="yellow")
    for line in answer["lines"]:
        _print_runtime_line(ctx, line)


@cli.command()
@click.argument("service")
@env_option
@json_option
@pass_context
def ps(ctx: Context, service, environment) -> None:
    """SERVICE's process types (web, worker, ...): instances, state and restarts."""
    found = ctx.service(service, environment)
    rows = ctx.api.get(f"services/{found['id']}/processes/")
    if ctx.json:
        output.as_json(rows)
        return
    shown = [
        {**row, "instances": f"{row['running']}/{row['replicas']}", "state": output.state(row["state"])}
        for row in rows
    ]
    columns = [("TYPE", "type"), ("INSTANCES", "instances"), ("STATE", "state"), ("RESTARTS", "restarts")]
    output.table(shown, [*columns, ("COMMAND", "command")], f"{found['name']} is not running.")


@cli.command(name="ps:scale")
@click.argument("service")
@click.argument("counts", nargs=-1, required=True)
@env_option
@json_option
@pass_context
def ps_scale(ctx: Context, service, counts, environment) -> None:
    """Run COUNTS replicas of SERVICE's process types: `m3o ps:scale api web=3 worker=1`."""
    wanted = {}
    for count in counts:
        name, equals, number = count.partition("=")
        if not equals or not name:
            raise CliError(f"{count!r} is not TYPE=REPLICAS, e.g. web=3.")
        try:
            wanted[name] = int(number)
        except ValueError:
            raise CliError(f"{count!r}: the replicas must be a whole number, e.g. web=3.") from None
    found = ctx.service(service, environment)
    rows = ctx.api.post(f"services/{found['id']}/scale/", wanted)
    if ctx.json:
        output.as_json(rows)
        return
    said = ", ".join(f"{name}={number}" for name, number in wanted.items())
    click.echo(
        f"Scaling {found['name']} to {said}; `m3o ps {found['name']}` shows the replicas as they start."
    )


@cli.command()
@click.argument("service")
@click.argument("deployment", type=int, required=False)
@env_option
@yes_option
@_detach
@json_option
@pass_context
def rollback(ctx: Context, service, deployment, environment, yes, detach) -> None:
    """Run an earlier deployment again (default: the one before the live one)."""
    found = ctx.service(service, environment)
    target = f"deployment #{deployment}" if deployment else "the deployment before the live one"
    ask(yes, f"Roll {found['name']} in {found['environment_name']} back to {target}?")
    queued = ctx.api.post(f"services/{found['id']}/rollback/", {"deployment": deployment})
    finish(ctx, queued, detach)


@cli.command()
@click.argument("service", required=False)
@env_option
@json_option
@pass_context
def cancel(ctx: Context, service, environment) -> None:
    """Cancel the newest deployment still in progress (of SERVICE, or of the environment)."""
    if service:
        scope = {"service": ctx.service(service, environment)["id"]}
    else:
        scope = {"environment": ctx.environment(environment)["id"]}
    pending = ctx.api.get("deployments/", unsettled="true", page_size=1, **scope)["results"]
    if not pending:
        raise CliError("Nothing is being deployed.")
    cancelled = ctx.api.post(f"deployments/{pending[0]['id']}/cancel/")
    if ctx.json:
        output.as_json(cancelled)
    else:
        click.echo(f"Cancelled deployment #{cancelled['id']} of {cancelled['service_name']}.")


def _control(name: str, done: str, follows: bool = False, asks: str = ""):
    """`asks`: the question before a control that takes the service down; --yes answers it."""

    @pass_context
    def command(ctx: Context, service, environment, detach, yes: bool = False) -> None:
        found = ctx.service(service, environment)
        if asks:
            question = asks.format(name=found["name"], environment=found["environment_name"])
            ask(yes, question, type_name=found["name"])
        result = ctx.api.post(f"services/{found['id']}/{name}/")
        if follows and result:
            finish(ctx, result, detach)
        elif ctx.json:
            output.as_json(result or found)
        else:
            click.echo(done.format(name=found["name"]))

    options = [click.argument("service"), env_option, *([yes_option] if asks else []), _detach, json_option]
    for option in reversed(options):
        command = option(command)
    return cli.command(name=name, help=f"{name.capitalize()} a service.")(command)


_control("stop", "{name} stopped.", asks="Stop {name} in {environment}? It stops answering until started.")
_control("start", "{name} starting.", follows=True)
_control("restart", "{name} restarted.", follows=True)  # a stopped service starts: follow it


@cli.command()
@click.argument("service")
@yes_option
@env_option
@json_option
@pass_context
def delete(ctx: Context, service, yes, environment) -> None:
    """Stop a service and delete it, with its deployments and images."""
    found = ctx.service(service, environment)
    question = f"Delete {found['name']} in {found['environment_name']}, with its deployments and images?"
    ask(yes, question, type_name=found["name"])
    ctx.api.delete(f"services/{found['id']}/")
    if ctx.json:
        output.as_json({"deleted": found})
    else:
        click.echo(f"{found['name']} deleted.")
