"""Text from the server, made safe for a terminal.

Whatever the server sends (a log line an app printed, a variable's value, a
description someone typed) may hold escape sequences that move the cursor,
retitle the window, write to the clipboard (OSC 52) or hide what was printed
before. Every string the CLI takes from the server passes through here first,
so nothing it prints can drive the terminal; only the CLI's own colours do.
"""

from __future__ import annotations

import re

# ESC [ ... final (CSI), ESC ] ... BEL or ESC \ (OSC), ESC P/X/^/_ ... ESC \ (strings),
# then any other two-byte ESC sequence; the 8-bit C1 forms of the same after.
_SEQUENCES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[\x20-\x7e]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*[\x07\x9c]?"
)
# What is left of C0 and C1 besides tab and newline: BEL, backspace, carriage return, DEL...
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def text(value: str) -> str:
    return _CONTROLS.sub("", _SEQUENCES.sub("", value))


def tree(value):
    """The same JSON value with every string (keys too) cleaned."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {text(k) if isinstance(k, str) else k: tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tree(item) for item in value]
    return value
