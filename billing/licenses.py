"""Which license a checked-out tree carries, read from its LICENSE or COPYING file.

Our own small matcher: the text is normalised (lower case, words only, no
copyright lines) and compared with phrases that each license's text always
contains. Markers of source-available licenses are looked for first, so an
MIT text with a Commons Clause appended is not taken for MIT.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from deployments import tree

# The names GitHub's licensee looks at, in the order it prefers them.
_FILE_NAMES = re.compile(r"^(un)?licen[cs]e|^copying", re.IGNORECASE)
MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class Fingerprint:
    spdx_id: str
    phrases: tuple[str, ...]
    absent: tuple[str, ...] = ()


_RESTRICTIVE = (
    Fingerprint("LicenseRef-Commons-Clause", ("commons clause license condition",)),
    Fingerprint("BUSL-1.1", ("business source license 1 1",)),
    Fingerprint("SSPL-1.0", ("server side public license",)),
    Fingerprint("Elastic-2.0", ("elastic license 2 0",)),
    Fingerprint("PolyForm-Noncommercial-1.0.0", ("polyform noncommercial license",)),
    Fingerprint("CC-BY-NC-4.0", ("attribution noncommercial 4 0 international",)),
)
_OPEN = (
    # Licenses that name the GNU licenses in their text come before them.
    Fingerprint("MPL-2.0", ("mozilla public license version 2 0",)),
    Fingerprint("EPL-2.0", ("eclipse public license v 2 0",)),
    Fingerprint("AGPL-3.0-only", ("gnu affero general public license version 3 19 november 2007",)),
    Fingerprint("LGPL-3.0-only", ("gnu lesser general public license version 3 29 june 2007",)),
    Fingerprint("LGPL-2.1-only", ("gnu lesser general public license version 2 1 february 1999",)),
    Fingerprint("GPL-3.0-only", ("gnu general public license version 3 29 june 2007",)),
    Fingerprint("GPL-2.0-only", ("gnu general public license version 2 june 1991",)),
    Fingerprint("Apache-2.0", ("apache license version 2 0",)),
    Fingerprint("BSL-1.0", ("boost software license version 1 0",)),
    Fingerprint("Unlicense", ("this is free and unencumbered software released into the public domain",)),
    Fingerprint(
        "MIT",
        (
            "permission is hereby granted free of charge to any person obtaining a copy",
            "the above copyright notice and this permission notice shall be included",
        ),
    ),
    Fingerprint(
        "ISC",
        (
            "permission to use copy modify and or distribute this software for any purpose",
            "provided that the above copyright notice and this permission notice appear in all copies",
        ),
    ),
    Fingerprint("0BSD", ("permission to use copy modify and or distribute this software for any purpose",)),
    Fingerprint(
        "BSD-3-Clause",
        (
            "redistribution and use in source and binary forms with or without modification",
            "neither the name",
        ),
    ),
    Fingerprint(
        "BSD-2-Clause",
        ("redistribution and use in source and binary forms with or without modification",),
        absent=("neither the name", "advertising materials"),
    ),
    Fingerprint(
        "Zlib",
        (
            "altered source versions must be plainly marked as such",
            "this notice may not be removed or altered",
        ),
    ),
)


@dataclass(frozen=True)
class LicenseFile:
    path: str  # relative to the tree, for the reason shown to people
    spdx_id: str | None  # None: a license file whose text we do not recognise


def normalise(text: str) -> str:
    kept = [line for line in text.splitlines() if not re.match(r"\s*(copyright|\(c\)|©)", line, re.I)]
    return " ".join(re.findall(r"[a-z0-9]+", " ".join(kept).lower()))


def identify_text(text: str) -> str | None:
    words = f" {normalise(text)} "
    for fingerprint in (*_RESTRICTIVE, *_OPEN):
        if all(f" {p} " in words for p in fingerprint.phrases) and not any(
            f" {p} " in words for p in fingerprint.absent
        ):
            return fingerprint.spdx_id
    return None


def find(root: Path) -> LicenseFile | None:
    """The license file at the top of the tree, identified; None when there is none."""
    # Links are left out even when they stay inside: a license is a file of its own.
    candidates = [name for name in tree.regular_files(root) if _FILE_NAMES.match(name)]
    found: LicenseFile | None = None
    for name in candidates:
        data = tree.read_bytes(root, name, MAX_BYTES, truncate=True)
        if data is None:
            continue
        spdx_id = identify_text(data.decode("utf-8", errors="replace"))
        if spdx_id is not None:
            return LicenseFile(name, spdx_id)
        found = found or LicenseFile(name, None)
    return found
