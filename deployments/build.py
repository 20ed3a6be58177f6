"""Decide how a checkout is built: its own Dockerfile, or one we write for it."""

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from deployments import tree
from deployments.errors import UserError

LOOKED_FOR = (
    "a Dockerfile, requirements.txt or pyproject.toml (Python), package.json (Node.js), "
    "go.mod (Go) or index.html (a static site)"
)


@dataclass
class BuildPlan:
    context: Path
    # The Dockerfile's text: the engine gets it inside the build context's tar,
    # so nothing is ever written into the checkout (where a link could send it anywhere).
    dockerfile: str
    language: str  # "dockerfile" when the repository brings its own
    start_command: str  # how the container starts, for the log

    @property
    def generated(self) -> bool:
        return self.language != "dockerfile"


def _read(folder: Path, name: str) -> str | None:
    """Read a small file of the checkout, refusing links that point out of it."""
    return tree.read_text(folder, name)


def procfile_web(folder: Path) -> str | None:
    text = _read(folder, "Procfile")
    if text is None:
        return None
    for line in text.splitlines():
        match = re.match(r"^\s*web\s*:\s*(.+?)\s*$", line)
        if match:
            return match.group(1)
    return None


def _cmd(command: str) -> str:
    # The Procfile line is the user's own shell command for their own
    # container; `exec` makes it PID 1 so it receives the stop signal.
    return "CMD " + json.dumps(["/bin/sh", "-c", f"exec {command}"])


def _python(folder: Path) -> tuple[list[str], str]:
    start = procfile_web(folder)
    if not start:
        for candidate in ("main.py", "app.py"):
            if tree.is_file(folder, candidate):
                start = f"python {candidate}"
                break
    if not start:
        raise UserError(
            "This looks like a Python app, but there is no start command: add a Procfile "
            "with a 'web:' line, or a main.py or app.py."
        )
    lines = [f"FROM {settings.BASE_IMAGES['python']}", "WORKDIR /app"]
    if tree.is_file(folder, "requirements.txt"):
        lines += ["COPY requirements.txt ./", "RUN pip install -r requirements.txt"]
    lines += ["COPY . ."]
    if tree.is_file(folder, "pyproject.toml"):
        lines += ["RUN pip install ."]
    return lines, start


def _node(folder: Path) -> tuple[list[str], str]:
    start = procfile_web(folder)
    if not start:
        try:
            package = json.loads(_read(folder, "package.json") or "{}")
        except ValueError:
            raise UserError("package.json is not valid JSON.") from None
        scripts = package.get("scripts") if isinstance(package, dict) else None
        if (isinstance(scripts, dict) and scripts.get("start")) or tree.is_file(folder, "server.js"):
            start = "npm start"
    if not start:
        raise UserError(
            "This looks like a Node.js app, but there is no start command: add a 'start' "
            "script to package.json, a server.js, or a Procfile with a 'web:' line."
        )
    install = "npm ci --omit=dev" if tree.is_file(folder, "package-lock.json") else "npm install --omit=dev"
    lines = [
        f"FROM {settings.BASE_IMAGES['node']}",
        "WORKDIR /app",
        "COPY package*.json ./",
        f"RUN {install}",
        "COPY . .",
    ]
    return lines, start


def _go(folder: Path) -> tuple[list[str], str]:
    start = procfile_web(folder) or "/app/server"
    lines = [
        f"FROM {settings.BASE_IMAGES['go']}",
        "WORKDIR /src",
        "COPY go.* ./",
        "RUN go mod download",
        "COPY . .",
        "RUN go build -o /app/server . && rm -rf /src",
        "WORKDIR /app",
    ]
    return lines, start


def _static(folder: Path) -> tuple[list[str], str]:
    start = procfile_web(folder) or "serve-static /srv/www"
    lines = [f"FROM {settings.BASE_IMAGES['static']}", "COPY . /srv/www"]
    return lines, start


_LANGUAGES = (
    ("python", ("requirements.txt", "pyproject.toml"), _python),
    ("node", ("package.json",), _node),
    ("go", ("go.mod",), _go),
    ("static", ("index.html",), _static),
)


def plan(folder: Path, port: int) -> BuildPlan:
    """Find the Dockerfile, or detect the language and generate one (in memory)."""
    own = _read(folder, "Dockerfile")  # refuses a link out of the repository
    if own is not None:
        return BuildPlan(folder, own, "dockerfile", "the Dockerfile's CMD")
    for language, markers, generate in _LANGUAGES:
        if any(tree.is_file(folder, marker) for marker in markers):
            lines, start = generate(folder)
            lines += [f"ENV PORT={int(port)}", f"EXPOSE {int(port)}", "USER app", _cmd(start)]
            return BuildPlan(folder, "\n".join(lines) + "\n", language, start)
    raise UserError(f"Don't know how to build this: looked for {LOOKED_FOR} and found none.")


def describe(build_plan: BuildPlan) -> str:
    if not build_plan.generated:
        return "Using the repository's Dockerfile."
    return (
        f"No Dockerfile found: detected a {build_plan.language} app, "
        f"starting it with: {shlex.quote(build_plan.start_command)}"
    )
