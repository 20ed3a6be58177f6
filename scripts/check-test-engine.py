#!/usr/bin/env python3
"""Fail when a test lists the Docker engine beyond what it made itself (run by `make lint`).

A test that asks the engine for everything of the platform (or everything at all) passes
or fails by what other tests left, by a worker still cleaning up after the previous test,
or by another installation's run on the same engine. Tests ask for their own things:
through tests/own.py (by deployment, service and environment ids), or with a filter of
their own on the listing itself: an id, a name, or the platform's label together with an
id label. A listing of an engine that is wholly the test's own (a dockerd it started, a
platform name it made up) says so with `# engine-wide: <why>` on its line or on the line
of a function around it.
"""

import ast
import re
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
ALLOWED = {TESTS / "own.py"}
KINDS = {"containers", "networks", "images"}
OWN_ID_LABEL = re.compile(r"^org\.m3o\.(deployment|service|environment)=")
PLATFORM_LABEL = "org.m3o.platform="
PRAGMA = "# engine-wide"


def is_listing(call: ast.Call) -> bool:
    """client.containers.list(...), client.api.images(...) and the like; prune() too."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    owner = func.value
    if func.attr in ("list", "prune") and isinstance(owner, ast.Attribute) and owner.attr in KINDS:
        return True
    return func.attr in KINDS and isinstance(owner, ast.Attribute) and owner.attr == "api"


def _text_start(node: ast.AST) -> str | None:
    """The literal start of a string or f-string: enough to tell which label it is."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return node.values[0].value
    return None


class Scope:
    """The simple assignments (`name = value`) of one function or module, so a filter kept in
    a variable first (`labels = [...]`, then `filters={"label": labels}`) is read too."""

    def __init__(self, outer: "Scope | None") -> None:
        self.outer = outer
        self.assigned: dict[str, list[tuple[int, ast.expr]]] = {}

    def note(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.assigned.setdefault(target.id, []).append((node.lineno, node.value))

    def resolve(self, node: ast.expr | None, line: int) -> ast.expr | None:
        """The value last assigned to a name before this line, looked up outwards."""
        scope = self
        while isinstance(node, ast.Name) and scope is not None:
            before = [value for at, value in scope.assigned.get(node.id, ()) if at < line]
            if before:
                node = before[-1]
            else:
                scope = scope.outer
        return node


def is_filtered_by_own(call: ast.Call, scope: Scope) -> bool:
    keywords = {keyword.arg: keyword.value for keyword in call.keywords}
    if {"name", "names"} & keywords.keys():
        return True
    filters = scope.resolve(keywords.get("filters"), call.lineno)
    if not isinstance(filters, ast.Dict):
        return False
    entries = {
        _text_start(key): value for key, value in zip(filters.keys, filters.values, strict=True) if key
    }
    if {"id", "name"} & entries.keys():
        return True
    label = scope.resolve(entries.get("label"), call.lineno)
    labels = label.elts if isinstance(label, ast.List) else [label] if label is not None else []
    starts = [_text_start(element) or "" for element in labels]
    return any(s.startswith(PLATFORM_LABEL) for s in starts) and any(OWN_ID_LABEL.match(s) for s in starts)


def problems(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    found = []

    def visit(node: ast.AST, exempt: bool, scope: Scope) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            exempt = exempt or PRAGMA in lines[node.lineno - 1]
            scope = Scope(scope)
            for inner in ast.walk(node):
                if isinstance(inner, ast.Assign):
                    scope.note(inner)
        if isinstance(node, ast.Call) and is_listing(node) and not exempt:
            line = lines[node.lineno - 1]
            if PRAGMA not in line and not is_filtered_by_own(node, scope):
                found.append(f"{path.relative_to(TESTS.parent)}:{node.lineno}: {line.strip()}")
        for child in ast.iter_child_nodes(node):
            visit(child, exempt, scope)

    tree = ast.parse(source, str(path))
    module = Scope(None)
    for node in tree.body:
        if isinstance(node, ast.Assign):
            module.note(node)
    visit(tree, exempt=False, scope=module)
    return found


def main() -> int:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if path in ALLOWED or (TESTS / "apps") in path.parents:
            continue
        found += problems(path)
    if found:
        print(
            "Tests must list only what they made (tests/own.py, or a filter by id, name, or the",
            "platform's label with an id label; `# engine-wide: <why>` for an engine of their own):",
            *found,
            sep="\n  ",
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
