"""The `m3o` command: `m3o --help` lists what it does."""

from __future__ import annotations

import sys

import click


def main() -> None:
    from cli import deploying, domains, groups, jobs, members, promote, service_settings  # noqa: F401  (they add their commands to the group)
    from cli.app import cli

    try:
        cli(prog_name="m3o")
    except KeyboardInterrupt:
        click.echo("", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
