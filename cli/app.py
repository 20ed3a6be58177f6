"""The `m3o` group, logging in, and what is running: services, status, deployments."""

from __future__ import annotations

import click

from cli import config, device, output
from cli.client import VERSION, Api, CliError
from cli.context import Context, env_option, json_option, pass_context


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@json_option
@click.version_option(VERSION, prog_name="m3o")
def cli() -> None:
    """Deploy and run services on M3O from a terminal."""


@cli.command()
@click.option("--url", help=f"The M3O server (default: the last one, or {config.DEFAULT_URL}).")
@click.option(
    "--token", help="A personal access token (for scripts and CI); without it, sign in in a browser."
)
@click.option("--no-browser", is_flag=True, help="Print the sign-in link instead of opening a browser.")
@json_option
@pass_context
def login(ctx: Context, url: str | None, token: str | None, no_browser: bool) -> None:
    """Log in: approve this computer in the browser, or give a token."""
    url = (url or ctx.settings.url).rstrip("/")
    if not token:
        token = device.browser_login(url, open_browser=not no_browser)
    me = Api(config.Settings(url=url, token=token, environment="")).get("whoami/")
    where = config.update(url=url, token=token)
    if ctx.json:
        output.as_json({**me, "url": url, "config": str(where)})
    else:
        click.echo(f"Logged in to {url} as {me['email'] or me['username']}.")


@cli.command()
@json_option
@pass_context
def logout(ctx: Context) -> None:
    """Forget the token."""
    where = config.update(token=None)
    if ctx.json:
        output.as_json({"logged_out": True, "config": str(where)})
    else:
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
        [{**s, "state": output.state(s["state"], s.get("status"))} for s in services],
        _SERVICE_COLUMNS,
        "No services yet.",
    )


@cli.command()
@click.option("--env", "-e", "environment", help="Only this environment's services (default: every one).")
@json_option
@pass_context
def services(ctx: Context, environment: str | None) -> None:
    """Every service you can see, or those of one environment."""
    scope = {"environment": ctx.environment(environment)["id"]} if environment else {}
    found = ctx.api.all("services/", **scope)
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
    said = output.state(found["state"], found.get("status"))
    click.echo(f"{found['name']} in {found['environment_name']}: {said}")
    where = found["branch"] + (f", {found['path']}" if found["path"] else "")
    click.echo(f"  source: {found['repository_url']} ({where})")
    if found.get("address"):  # given as the service was made; it answers there once it runs
        click.echo(f"  address: {found['address']}")
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


@cli.command("open")
@click.argument("service")
@env_option
@click.option("--print", "print_only", is_flag=True, help="Print the address instead of opening a browser.")
@json_option
@pass_context
def open_service(ctx: Context, service: str, environment: str | None, print_only: bool) -> None:
    """Open a service's address in the browser."""
    found = ctx.service(service, environment)
    if not found["url"]:
        state = found["state"] or "not deployed"
        raise CliError(f"{found['name']} in {found['environment_name']} has no address: it is {state}.")
    if ctx.json:
        output.as_json({"service": found["name"], "url": found["url"]})
    elif print_only or click.launch(found["url"]) != 0:
        click.echo(found["url"])


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print shell completion: eval "$(m3o completion bash)" in ~/.bashrc (or zsh, fish)."""
    from click.shell_completion import get_completion_class

    script = get_completion_class(shell)(cli, {}, "m3o", "_M3O_COMPLETE").source()
    click.echo(script)


@cli.command()
@click.option("--env", "-e", "environment", help="Only this environment's changes (owners and admins).")
@click.option("--limit", default=50, show_default=True, help="How many of the newest changes.")
@json_option
@pass_context
def audit(ctx: Context, environment: str | None, limit: int) -> None:
    """Who changed what, when and from where: your environments' and your account's changes."""
    scope = {"environment": ctx.environment(environment)["id"]} if environment else {}
    found = ctx.api.get("audit/", page_size=max(1, min(limit, 500)), **scope)["results"]
    if ctx.json:
        output.as_json(found)
        return
    rows = [
        {
            **event,
            "when": output.when(event["created_at"]),
            "user": event["user"] or "the platform",
            "what": f"{event['action']} {event['detail']}".strip(),
            "where": event["environment_name"] or "(account)",
        }
        for event in found
    ]
    columns = [("WHEN", "when"), ("WHO", "user"), ("FROM", "address"), ("WHERE", "where"), ("WHAT", "what")]
    output.table(rows, columns, "No changes recorded.")
