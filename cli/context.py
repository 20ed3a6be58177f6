"""What every command shares: settings, the API client, --json, and finding things by name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import click

from cli import config
from cli.client import Api, CliError


@dataclass
class Context:
    json: bool = False
    _api: Api | None = field(default=None, repr=False)

    @property
    def settings(self) -> config.Settings:
        return config.load()

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = Api(self.settings)
        return self._api

    def environment(self, name: str | None = None) -> dict:
        """An environment by name: your own first, else one shared with you."""
        name = name or self.settings.environment
        found = self.api.get("environments/", name=name)["results"]
        if not found:
            names = sorted({e["name"] for e in self.api.all("environments/")})
            raise CliError(
                f"There is no environment called {name}; {_existing('environments', names)}"
                f" Create it with `m3o env create {name}`."
            )
        return next((e for e in found if e["role"] == "owner"), found[0])

    def service(self, name: str, environment: str | None = None) -> dict:
        env = self.environment(environment)
        found = self.api.get("services/", environment=env["id"], name=name)["results"]
        if not found:
            names = sorted(s["name"] for s in self.api.all("services/", environment=env["id"]))
            raise CliError(
                f"There is no service called {name} in {env['name']}; {_existing('services', names)}"
            )
        return found[0]


def _existing(kind: str, names: list[str]) -> str:
    if not names:
        return f"there are no {kind} yet."
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return f"the {kind} are: {shown}."


pass_context = click.make_pass_decorator(Context, ensure=True)


def _set_json(ctx: click.Context, _param, value: bool) -> None:
    if value:
        ctx.ensure_object(Context).json = True


json_option = click.option(
    "--json", "json_output", is_flag=True, expose_value=False, callback=_set_json, is_eager=True,
    help="Print JSON for scripts instead of tables.",
)  # fmt: skip
env_option = click.option(
    "--env",
    "-e",
    "environment",
    help="The environment (default: M3O_ENV, else the one chosen by `m3o env use`).",
)


def slug(text: str) -> str:
    """A service name from a folder or repository name: web-app, not Web_App.git."""
    name = re.sub(r"\.git$", "", text.strip().rstrip("/").rsplit("/", 1)[-1]).lower()
    name = re.sub(r"[^a-z0-9-]+", "-", name).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)[:30].rstrip("-")
    return name or "app"
