"""A repository's Procfile: one process type per line, `name: command`.

`web` gets the address and the health check, `release` runs once before the
switch, every other name (`worker`, `clock`, ...) is a process of its own. The
names become parts of container names, labels and log keys, so only plain ones
are taken; a line that is not `name: command` is refused, never guessed at.
"""

import re
from pathlib import Path

from deployments import tree
from deployments.errors import UserError

NAME = re.compile(r"[a-z][a-z0-9_-]{0,29}")
MAX_PROCESS_TYPES = 10  # besides release: each one is a container of its own
MAX_COMMAND = 1000
WEB, RELEASE = "web", "release"


def read(folder: Path) -> dict[str, str]:
    """{process type: command} of the folder's Procfile, in its order; {} without one."""
    text = tree.read_text(folder, "Procfile")  # refuses a link out of the repository
    return parse(text) if text is not None else {}


def parse(text: str) -> dict[str, str]:
    types: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, colon, command = (part.strip() for part in stripped.partition(":"))
        where = f"Procfile line {number}"
        if not colon:
            raise UserError(f"{where} is not `name: command` (for example `worker: python worker.py`).")
        if not NAME.fullmatch(name):
            raise UserError(
                f"{where}: {name[:40]!r} is not a process type name. Use lower-case letters, digits, "
                "- and _, starting with a letter, at most 30 characters (for example `worker`)."
            )
        if name in types:
            raise UserError(f"{where}: the process type {name} is named twice.")
        if not command or len(command) > MAX_COMMAND:
            raise UserError(f"{where}: the {name} command must be one line of 1 to {MAX_COMMAND} characters.")
        types[name] = command
    if len([name for name in types if name != RELEASE]) > MAX_PROCESS_TYPES:
        raise UserError(f"The Procfile names more than {MAX_PROCESS_TYPES} process types besides release.")
    return types


def valid_name(name: str) -> bool:
    return bool(NAME.fullmatch(name))
