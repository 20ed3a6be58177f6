"""`m3o env ...` and `m3o vars ...`."""

from __future__ import annotations

import click

from cli import config, output
from cli.app import cli
from cli.client import CliError
from cli.confirm import ask, yes_option
from cli.context import Context, env_option, json_option, pass_context


@cli.group()
def env() -> None:
    """Environments: list, create, use, delete."""


@env.command("list")
@json_option
@pass_context
def env_list(ctx: Context) -> None:
    found = ctx.api.all("environments/")
    if ctx.json:
        output.as_json(found)
        return
    current = ctx.settings.environment
    rows = [{**e, "current": "*" if e["name"] == current else ""} for e in found]
    output.table(
        rows,
        [("", "current"), ("NAME", "name"), ("KIND", "kind"), ("ROLE", "role"), ("OWNER", "owner")],
        "No environments yet: `m3o run` makes production, `m3o env create NAME` any other.",
    )


@env.command("create")
@click.argument("name")
@click.option("--copy-from", help="Copy this environment's services and variables, and deploy them.")
@click.option(
    "--kind", type=click.Choice(["production", "staging", "testing", "personal"]), default="personal"
)
@click.option("--ttl", type=int, help="Delete it by itself after this many hours.")
@json_option
@pass_context
def env_create(ctx: Context, name, copy_from, kind, ttl) -> None:
    data = {"name": name, "kind": kind, "ttl_hours": ttl}
    if copy_from:
        data["copy_from"] = ctx.environment(copy_from)["id"]
    created = ctx.api.post("environments/", data)
    if ctx.json:
        output.as_json(created)
    else:
        click.echo(
            f"Environment {created['name']} created." + (f" Copying {copy_from}." if copy_from else "")
        )


@env.command("use")
@click.argument("name")
@json_option
@pass_context
def env_use(ctx: Context, name) -> None:
    """Make NAME the environment later commands work in."""
    found = ctx.environment(name)
    config.update(environment=name)
    output.as_json(found) if ctx.json else click.echo(f"Now using {name}.")


@env.command("delete")
@click.argument("name")
@yes_option
@json_option
@pass_context
def env_delete(ctx: Context, name, yes) -> None:
    """Stop every service of NAME and delete it; its history stays."""
    found = ctx.environment(name)
    ask(yes, f"Delete {name} and stop and remove all its services?", type_name=name)
    ctx.api.delete(f"environments/{found['id']}/")
    output.as_json({"deleted": found}) if ctx.json else click.echo(f"Environment {name} deleted.")


@cli.group()
def vars() -> None:
    """Variables and secrets of the environment, or of one service (--service)."""


_service_option = click.option("--service", "-s", help="A service's own variables, not the environment's.")


def _target(ctx: Context, service: str | None, environment: str | None) -> str:
    if service:
        return f"services/{ctx.service(service, environment)['id']}/variables/"
    return f"environments/{ctx.environment(environment)['id']}/variables/"


@vars.command("list")
@_service_option
@env_option
@json_option
@pass_context
def vars_list(ctx: Context, service, environment) -> None:
    found = ctx.api.all(_target(ctx, service, environment))
    if ctx.json:
        output.as_json(found)
        return
    rows = [{**v, "value": "(secret)" if v["secret"] else v["value"]} for v in found]
    output.table(rows, [("KEY", "key"), ("VALUE", "value"), ("SCOPE", "scope")], "No variables.")


@vars.command("set")
@click.argument("assignments", nargs=-1, required=True)
@click.option("--secret", is_flag=True, help="Never show the value again.")
@_service_option
@env_option
@json_option
@pass_context
def vars_set(ctx: Context, assignments, secret, service, environment) -> None:
    """Set KEY=VALUE (several at once if you like). Redeploy to give them to a running app."""
    pairs = []
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise CliError(f"{assignment!r} is not KEY=VALUE.")
        pairs.append((key, value))
    target = _target(ctx, service, environment)
    saved = [ctx.api.post(target, {"key": key, "value": value, "secret": secret}) for key, value in pairs]
    if ctx.json:
        output.as_json(saved)
    else:
        click.echo(f"Set {', '.join(key for key, _ in pairs)}. Redeploy to give them to the running app.")


@vars.command("unset")
@click.argument("keys", nargs=-1, required=True)
@_service_option
@env_option
@json_option
@pass_context
def vars_unset(ctx: Context, keys, service, environment) -> None:
    """Remove KEYs. Redeploy to take them from a running app."""
    target = _target(ctx, service, environment)
    for key in keys:
        ctx.api.delete(f"{target}{key}/")
    output.as_json({"removed": list(keys)}) if ctx.json else click.echo(f"Removed {', '.join(keys)}.")
