"""`m3o members ...`: who else may deploy to an environment, read it or run it."""

from __future__ import annotations

import click

from cli import output
from cli.app import cli
from cli.client import CliError
from cli.context import Context, env_option, json_option, pass_context

ROLES = ["viewer", "member", "admin"]


@cli.group()
def members() -> None:
    """Members of an environment: list, add (or change a role), remove."""


def _path(ctx: Context, environment: str | None) -> str:
    return f"environments/{ctx.environment(environment)['id']}/members/"


@members.command("list")
@env_option
@json_option
@pass_context
def members_list(ctx: Context, environment) -> None:
    found = ctx.api.all(_path(ctx, environment))
    if ctx.json:
        output.as_json(found)
        return
    output.table(found, [("EMAIL", "email"), ("ROLE", "role")], "No members: only the owner.")


@members.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="member", show_default=True)
@env_option
@json_option
@pass_context
def members_add(ctx: Context, email, role, environment) -> None:
    """Add EMAIL's account with ROLE; for a member already there, change the role."""
    env = ctx.environment(environment)
    added = ctx.api.post(f"environments/{env['id']}/members/", {"email": email, "role": role})
    if ctx.json:
        output.as_json(added)
    else:
        click.echo(f"{added['email']} is {added['role']} in {env['name']}.")


@members.command("remove")
@click.argument("email")
@env_option
@json_option
@pass_context
def members_remove(ctx: Context, email, environment) -> None:
    env = ctx.environment(environment)
    path = f"environments/{env['id']}/members/"
    found = next((m for m in ctx.api.all(path) if m["email"].lower() == email.lower()), None)
    if found is None:
        raise CliError(f"{email} is not a member of {env['name']}.")
    ctx.api.delete(f"{path}{found['id']}/")
    output.as_json({"removed": found}) if ctx.json else click.echo(f"{email} removed from {env['name']}.")
