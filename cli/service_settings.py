"""`m3o settings SERVICE`: show a service's settings, or change those given as options."""

from __future__ import annotations

import click

from cli import output
from cli.app import cli
from cli.context import Context, env_option, json_option, pass_context

# option -> the API's field, and the label shown
_FIELDS = (
    ("name", "name", "Name"),
    ("repository", "repository_url", "Repository"),
    ("branch", "branch", "Branch"),
    ("path", "path", "Folder"),
    ("port", "port", "Port"),
    ("start", "start_command", "Start command"),
    ("build", "build_command", "Build command"),
    ("release", "predeploy_command", "Pre-deploy command"),
    ("health_check", "health_check_path", "Health check path"),
)


@cli.command("settings")
@click.argument("service")
@click.option("--name", help="A new name (its address changes at once).")
@click.option("--repository", help="A repository URL to deploy from.")
@click.option("--branch", help='The branch to deploy; "" for the repository\'s default.')
@click.option("--path", help='The service\'s folder in a monorepo; "" for the top.')
@click.option("--port", type=click.IntRange(1, 65535), help="The port the app listens on.")
@click.option("--start", help='Start command; "" for the Procfile\'s or the detected one.')
@click.option("--build", help='Build command; "" for none.')
@click.option("--release", help='Pre-deploy command, run before each deployment goes live; "" for none.')
@click.option("--health-check", help="The path asked for an answer before a new instance gets requests.")
@env_option
@json_option
@pass_context
def settings(ctx: Context, service, environment, **options) -> None:
    """Show SERVICE's settings; with options, change those (the next deployment uses them)."""
    found = ctx.service(service, environment)
    changes = {field: options[option] for option, field, _ in _FIELDS if options[option] is not None}
    if changes:
        found = ctx.api.patch(f"services/{found['id']}/", changes)
    if ctx.json:
        output.as_json(found)
        return
    for _, field, label in _FIELDS:
        click.echo(f"{label + ':':20} {found.get(field) if found.get(field) not in (None, '') else '-'}")
    if changes:
        click.echo("Saved: the next deployment uses them.")
