#!/usr/bin/env python3
"""Take the README's screenshots (docs/screenshots/*.png) in headless Chromium.

Runs tests/screenshots.py through scripts/run-tests.sh, so it needs what the
tests need: the services `make setup` starts. Usage: scripts/screenshots.py
"""

import os
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
os.chdir(root)
os.environ.setdefault("SCREENSHOTS_DIR", str(root / "docs" / "screenshots"))
command = ["scripts/run-tests.sh", "tests/screenshots.py", "-q", "-p", "no:cacheprovider", *sys.argv[1:]]
os.execv(command[0], command)  # noqa: S606  (our own script, an argument list)
