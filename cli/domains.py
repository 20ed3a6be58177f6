"""`m3o domains ...`: a service's custom domains and the DNS records that prove and point them."""

from __future__ import annotations

import click

from cli import output
from cli.app import cli
from cli.context import Context, env_option, json_option, pass_context

_STATUS_COLOURS = {"serving": "green", "failing": "yellow", "stopped": "red", "pending": "cyan"}


@cli.group()
def domains() -> None:
    """Custom domains: list, add, check, remove."""


def _records(domain: dict) -> None:
    for record in domain["records"]:
        value = f'"{record["value"]}"' if record["type"] == "TXT" else record["value"]
        click.echo(f"  {record['name']}  {record['type']}  {value}")


def _show(domain: dict) -> None:
    status = click.style(domain["status"], fg=_STATUS_COLOURS.get(domain["status"]))
    click.echo(f"{domain['name']}  {status}")
    if domain["status"] == "failing":
        click.echo(f"  The DNS proof is missing: it stops serving at {output.when(domain['stops_at'])}.")
    if domain["check_result"]:
        click.echo(f"  {domain['check_result']}")
    click.echo("  DNS records to create:")
    _records(domain)


@domains.command("list")
@click.argument("service")
@env_option
@json_option
@pass_context
def domains_list(ctx: Context, service, environment) -> None:
    """SERVICE's custom domains, with the DNS records each needs."""
    found = ctx.service(service, environment)
    listed = ctx.api.get(f"services/{found['id']}/domains/")
    if ctx.json:
        output.as_json(listed)
        return
    if not listed:
        click.echo(f"No custom domains yet: `m3o domains add {service} www.example.com`.")
    for domain in listed:
        _show(domain)


@domains.command("add")
@click.argument("service")
@click.argument("name")
@env_option
@json_option
@pass_context
def domains_add(ctx: Context, service, name, environment) -> None:
    """Claim NAME for SERVICE; it is served over HTTPS once its DNS records exist."""
    found = ctx.service(service, environment)
    domain = ctx.api.post(f"services/{found['id']}/domains/", {"name": name})
    if ctx.json:
        output.as_json(domain)
        return
    click.echo(f"{domain['name']} added to {service}. Create these DNS records (we check every minute):")
    _records(domain)


@domains.command("check")
@click.argument("service")
@click.argument("name")
@env_option
@json_option
@pass_context
def domains_check(ctx: Context, service, name, environment) -> None:
    """Ask the DNS about NAME now."""
    found = ctx.service(service, environment)
    domain = ctx.api.post(f"services/{found['id']}/domains/{name}/check/")
    if ctx.json:
        output.as_json(domain)
    else:
        _show(domain)


@domains.command("remove")
@click.argument("service")
@click.argument("name")
@env_option
@json_option
@pass_context
def domains_remove(ctx: Context, service, name, environment) -> None:
    """Stop serving NAME for SERVICE."""
    found = ctx.service(service, environment)
    ctx.api.delete(f"services/{found['id']}/domains/{name}/")
    if ctx.json:
        output.as_json({"removed": name})
    else:
        click.echo(f"{name} removed; it no longer answers.")
