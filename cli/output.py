"""Output for people (tables, colours on a terminal) or for scripts (--json)."""

from __future__ import annotations

import json

import click

_STATE_COLOURS = {
    "running": "green",
    "failed": "red",
    "cancelled": "yellow",
    "stopped": "yellow",
    "superseded": "bright_black",
    "queued": "cyan",
    "cloning": "cyan",
    "building": "cyan",
    "starting": "cyan",
    "restarting": "yellow",
    "exited": "red",
}


def state(text: str | None, said: str | None = None) -> str:
    """`said`: the state in the server's words ("running (deployment #5), #6 failed"), coloured by `text`."""
    # click.echo drops the colour codes when the output is not a terminal.
    return click.style(said or text or "-", fg=_STATE_COLOURS.get(text or ""))


def as_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def table(rows: list[dict], columns: list[tuple[str, str]], empty: str = "Nothing here yet.") -> None:
    """Columns as (heading, key); a value may already carry colour codes."""
    if not rows:
        click.echo(empty)
        return
    cells = [
        [str(row.get(key) if row.get(key) not in (None, "") else "-") for _, key in columns] for row in rows
    ]
    widths = [
        max(len(click.unstyle(heading)), *(len(click.unstyle(line[i])) for line in cells))
        for i, (heading, _) in enumerate(columns)
    ]
    click.echo("  ".join(click.style(h.ljust(w), bold=True) for (h, _), w in zip(columns, widths)))
    for line in cells:
        padded = [cell + " " * (w - len(click.unstyle(cell))) for cell, w in zip(line, widths)]
        click.echo("  ".join(padded).rstrip())


def when(stamp: str | None) -> str:
    """An API time, shortened to the minute."""
    return stamp[:16].replace("T", " ") if stamp else "-"
