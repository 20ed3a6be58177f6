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
    ("expect_status", "health_check_status", "Expected status"),
    ("check_interval", "health_check_interval", "Check interval (s)"),
    ("check_timeout", "health_check_timeout", "Check timeout (s)"),
    ("start_period", "health_check_start_period", "Start period (s)"),
    ("failure_threshold", "health_check_threshold", "Failure threshold"),
    ("grace_period", "stop_grace_period", "Grace period (s)"),
)


class GracePeriod(click.ParamType):
    """Seconds, or `default` for the platform's own (sent as null)."""

    name = "SECONDS|default"

    def convert(self, value, param, ctx):
        if value == "default":
            return "default"
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is not a number of seconds or 'default'", param, ctx)


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
@click.option("--health-check", help="The path asked before a new instance gets requests, and while it runs.")
@click.option(
    "--expect-status", help="Statuses that count as healthy: 200, 200-399, 2xx,301 (default 200-499)."
)
@click.option(
    "--check-interval", type=int, help="Seconds between health checks of a running instance (1-300)."
)
@click.option("--check-timeout", type=int, help="Seconds one health check may take (1-60).")
@click.option(
    "--start-period", type=int, help="Seconds after a start when failed checks do not count (0-600)."
)
@click.option(
    "--failure-threshold",
    type=int,
    help="Failed checks in a row before an instance is taken out and restarted (1-10).",
)
@click.option(
    "--grace-period", type=GracePeriod(), help="Seconds from SIGTERM to SIGKILL (0-300), or 'default'."
)
@env_option
@json_option
@pass_context
def settings(ctx: Context, service, environment, **options) -> None:
    """Show SERVICE's settings; with options, change those (the next deployment uses them)."""
    found = ctx.service(service, environment)
    changes = {field: options[option] for option, field, _ in _FIELDS if options[option] is not None}
    if changes.get("stop_grace_period") == "default":
        changes["stop_grace_period"] = None
    if changes:
        found = ctx.api.patch(f"services/{found['id']}/", changes)
    if ctx.json:
        output.as_json(found)
        return
    # The live deployment's m3o.toml wins over these (an older server does not say).
    repository = found.get("health_check_from_repository") or {}
    for _, field, label in _FIELDS:
        value = found.get(field) if found.get(field) not in (None, "") else "-"
        override = (
            f"  (m3o.toml in the repository says {repository[field]}, which wins)"
            if field in repository
            else ""
        )
        click.echo(f"{label + ':':20} {value}{override}")
    if changes:
        click.echo("Saved: the next deployment uses them.")
        for field in sorted(set(changes) & set(repository)):
            click.echo(f"While the repository's m3o.toml sets {field}, it wins over this setting.")


@cli.command("health")
@click.argument("service")
@env_option
@json_option
@pass_context
def health_events(ctx: Context, service, environment) -> None:
    """What the health monitor did to SERVICE's instances: taken out, restarted, back in."""
    found = ctx.service(service, environment)
    events = ctx.api.get(f"services/{found['id']}/health-events/", page_size=50)["results"]
    if ctx.json:
        output.as_json(events)
        return
    if not events:
        click.echo("No health events: every check passed, or none has failed often enough.")
    for event in events:
        click.echo(f"{event['created_at'][:19].replace('T', ' ')}  #{event['deployment']}  {event['detail']}")
