#!/usr/bin/env python3
"""Fail when a test waits by sleeping instead of polling (run by `make lint`).

A sleep guesses how long something takes; on a busy machine the guess is
wrong and the run goes red for nothing. Tests wait with tests/waiting.py's
`eventually`, the only place allowed to call `sleep`. The apps in tests/apps
run inside containers and are not tests, so they may sleep as they like.
"""

import re
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
ALLOWED = {TESTS / "waiting.py"}
# `time.sleep(`, `sleep(` after `from time import sleep`, `asyncio.sleep(`, etc.
SLEEP = re.compile(r"\bsleep\s*\(|\bimport\s+sleep\b|\bfrom\s+time\s+import\b[^\n]*\bsleep\b")


def main() -> int:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if path in ALLOWED or (TESTS / "apps") in path.parents:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            if SLEEP.search(code):
                found.append(f"{path.relative_to(TESTS.parent)}:{number}: {line.strip()}")
    if found:
        print("Tests must wait with tests.waiting.eventually, not sleep:", *found, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
