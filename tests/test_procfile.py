"""The Procfile's lines as process types: plain names only, every line `name: command`,
refused with a message naming the line (no engine needed)."""

import re

import pytest

from deployments import build, procfile
from deployments.errors import UserError


def test_every_line_is_a_process_type_in_order_with_comments_and_blank_lines_skipped():
    text = (
        "# processes\nweb: gunicorn app:app\n\nworker:python worker.py --queue a:b\nclock_2-x: python c.py\n"
    )
    assert procfile.parse(text) == {
        "web": "gunicorn app:app",
        "worker": "python worker.py --queue a:b",  # only the first colon separates
        "clock_2-x": "python c.py",
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("../../etc/x: cmd", "Procfile line 2: '../../etc/x' is not a process type name"),
        ("$(reboot): cmd", "Procfile line 2: '$(reboot)' is not a process type name"),
        ("work;er: cmd", "Procfile line 2: 'work;er' is not a process type name"),
        ("Worker: cmd", "Procfile line 2: 'Worker' is not a process type name"),
        ("1worker: cmd", "Procfile line 2: '1worker' is not a process type name"),
        ("a" * 31 + ": cmd", "is not a process type name"),
        ("python worker.py", "Procfile line 2 is not `name: command`"),
        ("worker:", "Procfile line 2: the worker command must be one line of 1 to 1000 characters"),
        ("worker: " + "x" * 1001, "the worker command must be one line of 1 to 1000 characters"),
        ("web: other", "Procfile line 2: the process type web is named twice"),
    ],
)
def test_a_line_that_is_not_a_plain_name_and_a_command_is_refused_naming_the_line(tmp_path, line, message):
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "Procfile").write_text(f"web: python main.py\n{line}\n")
    with pytest.raises(UserError, match=re.escape(message)):
        build.plan(tmp_path, 8080)


def test_more_than_ten_process_types_are_refused_and_release_does_not_count():
    lines = [f"p{n}: run {n}" for n in range(10)]
    assert len(procfile.parse("\n".join([*lines, "release: migrate"]))) == 11
    with pytest.raises(UserError, match="more than 10 process types"):
        procfile.parse("\n".join([*lines, "one-more: run"]))


def test_the_plan_carries_the_other_process_types_and_the_dockerfile_web_line(tmp_path):
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "Procfile").write_text("web: python main.py\nworker: python w.py\nrelease: python r.py\n")
    generated = build.plan(tmp_path, 8080)
    # A generated image has the web command as its CMD; the worker's replaces it in its container.
    assert generated.processes == {"web": "", "worker": "python w.py"}
    assert generated.release_command == "python r.py"
    (tmp_path / "Dockerfile").write_text("FROM m3o-base/python:bookworm\n")
    own = build.plan(tmp_path, 8080)
    assert own.processes == {"web": "python main.py", "worker": "python w.py"}
    assert build.describe(own) == (
        "Using the repository's Dockerfile; starting it with: python main.py (the Procfile's web: line)"
    )
