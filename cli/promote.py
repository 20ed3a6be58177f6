"""`m3o promote`: run what runs in one environment in another, without rebuilding."""

from __future__ import annotations

import click

from cli.app import cli
from cli.context import Context, env_option, json_option, pass_context
from cli.deploying import finish


@cli.command()
@click.argument("service")
@click.option("--to", "target", required=True, help="The environment to run it in.")
@env_option
@click.option("--detach", "-d", is_flag=True, help="Return once queued, without waiting.")
@json_option
@pass_context
def promote(ctx: Context, service, target, environment, detach) -> None:
    """Run SERVICE's live image in another environment (same image, that environment's variables)."""
    found = ctx.service(service, environment)
    queued = ctx.api.post(f"services/{found['id']}/promote/", {"environment": ctx.environment(target)["id"]})
    finish(ctx, queued, detach)
