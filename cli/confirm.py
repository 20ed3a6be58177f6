"""Asking before a command that stops, removes or replaces something, as Heroku does.

At a terminal the person answers (typing the name where a slip would cost most);
`--yes` answers for scripts. Without a terminal nobody can answer, so the command
refuses at once instead of waiting for ever or going ahead unasked.
"""

from __future__ import annotations

import sys

import click

from cli.client import CliError

yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (for scripts).")


def ask(yes: bool, question: str, *, type_name: str | None = None) -> None:
    """Return when it may go ahead; otherwise raise with what to do. Questions go to stderr."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"{question} Nothing is done without a confirmation: add --yes to go ahead.")
    if type_name is None:
        if not click.confirm(question, default=False, err=True):
            raise CliError("Nothing done.")
        return
    typed = click.prompt(f"{question}\nType {type_name} to confirm", default="", show_default=False, err=True)
    if typed.strip() != type_name:
        raise CliError(f"You typed {typed.strip()!r}, not {type_name}: nothing done.")


def replace_refused(exc: CliError) -> CliError:
    """The API's 409 for another repository under an existing name, in the CLI's words."""
    answer = exc.answer or {}
    if exc.status == 409 and answer.get("confirm") == "replace":
        return CliError(f"{answer.get('question', exc.message)} Run it again with --replace to replace it.")
    return exc
