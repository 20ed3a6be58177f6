"""The `m3o` group, logging in, and what is running: services, status, deployments."""

import click

from cli import config, output
from cli.client import Api
from cli.context import Context, env_option, json_option, pass_context


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@json_option
@click.version_option("0.1.0", prog_name="m3o")
def cli() -> None:
    """Deploy and run services on M3O from a terminal."""


@cli.command()
@click.option("--url", help=f"The M3O server (default: the last one, or {config.DEFAULT_URL}).")
@click.option("--token", help="A personal access token from the dashboard's Tokens page.")
@json_option
@pass_context
def login(ctx: Context, url: str | None, token: str | None) -> None:
    """Log in with a personal access token (asked for when not given)."""
    url = (url or ctx.settings.url).rstrip("/")
    if not token:
        token = click.prompt(f"Token (from {url}/api/tokens/)", hide_input=True).strip()
    me = Api(config.Settings(url=url, token=token, environment="")).get("whoami/")
    where = config.update(url=url, token=token)
    if ctx.json:
        output.as_json({**me, "url": url, "config": str(where)})
    else:
        click.echo(f"Logged in to {url} as {me['email'] or me['username']}.")


@cli.command()
def logout() -> None:
    """Forget the token."""
    config.update(token=None)
    click.echo("Logged out.")


@cli.command()
@json_option
@pass_context
def whoami(ctx: Context) -> None:
    """Who the token belongs to, and on which server."""
    me = ctx.api.get("whoami/")
    if ctx.json:
        output.as_json({**me, "url": ctx.settings.url, "environment": ctx.settings.environment})
    else:
        click.echo(
            f"{me['email'] or me['username']} on {ctx.settings.url} (environment: {ctx.settings.environment})"
        )


_SERVICE_COLUMNS = [
    ("ENVIRONMENT", "environment_name"),
    ("SERVICE", "name"),
    ("STATE", "state"),
    ("URL", "url"),
]


def _services_table(services: list[dict]) -> None:
    output.table(
        [{**s, "state": output.state(s["state"])} for s in services], _SERVICE_COLUMNS, "No services yet."
    )


@cli.command()
@json_option
@pass_context
def services(ctx: Context) -> None:
    """Every service you can see, in every environment."""
    found = ctx.api.all("services/")
    output.as_json(found) if ctx.json else _services_table(found)


@cli.command()
@click.argument("service", required=False)
@env_option
@json_option
@pass_context
def status(ctx: Context, service: str | None, environment: str | None) -> None:
    """The services of the environment, or one service and its latest deployments."""
    if service is None:
        env = ctx.environment(environment)
        found = ctx.api.all("services/", environment=env["id"])
        output.as_json({"environment": env, "services": found}) if ctx.json else _services_table(found)
        return
    found = ctx.service(service, environment)
    recent = ctx.api.get(f"services/{found['id']}/deployments/", page_size=5)["results"]
    if ctx.json:
        output.as_json({**found, "deployments": recent})
        return
    click.echo(f"{found['name']} in {found['environment_name']}: {output.state(found['state'])}")
    where = found["branch"] + (f", {found['path']}" if found["path"] else "")
    click.echo(f"  source: {found['repository_url']} ({where})")
    if found["url"]:
        click.echo(f"  url:    {found['url']}")
    _deployments_table(recent)


def _deployments_table(rows: list[dict]) -> None:
    output.table(
        [
            {
                **d,
                "state": output.state(d["state"]),
                "commit": (d["commit_sha"] or "")[:8]
                + (f" {d['commit_message'][:40]}" if d["commit_message"] else ""),
                "created": output.when(d["created_at"]),
                "note": (f"from #{d['source']} " if d["source"] else "") + (d["failure_reason"] or "")[:60],
            }
            for d in rows
        ],
        [("ID", "id"), ("STATE", "state"), ("CREATED", "created"), ("COMMIT", "commit"), ("NOTE", "note")],
        "No deployments yet.",
    )


@cli.command()
@click.argument("service")
@env_option
@json_option
@pass_context
def deployments(ctx: Context, service: str, environment: str | None) -> None:
    """A service's deployments, newest first."""
    found = ctx.service(service, environment)
    rows = ctx.api.get(f"services/{found['id']}/deployments/", page_size=50)["results"]
    output.as_json(rows) if ctx.json else _deployments_table(rows)
