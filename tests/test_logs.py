"""Build log lines are cleaned, capped and numbered before they are stored."""

import pytest

from deployments import actions, logs
from deployments.models import LogLine


@pytest.fixture
def deployment(alice):
    return actions.deploy_repository(alice, name="web", repository_url="https://example.com/alice/app.git")


@pytest.mark.django_db
def test_lines_are_cleaned(deployment, settings):
    settings.LOG_MAX_LINE_CHARS = 100
    log = logs.BuildLog(deployment)
    log.write("\x1b[31mred\x1b[0m and a NUL\x00 here\r")
    log.write("x" * 150)
    texts = list(LogLine.objects.filter(deployment=deployment).values_list("text", flat=True))
    assert texts[0] == "red and a NUL here"
    assert texts[1] == "x" * 100 + " [... line cut at 100 characters]"


@pytest.mark.django_db
def test_lines_are_numbered_and_capped(deployment, settings):
    settings.LOG_MAX_LINES = 10
    log = logs.BuildLog(deployment)
    for number in range(25):
        log.write(f"line {number}")
    log.save_size()
    lines = list(LogLine.objects.filter(deployment=deployment))
    assert [line.seq for line in lines] == list(range(1, 12))
    assert lines[-1].text == "[log cut: more than 10 lines; the rest is not kept]"
    deployment.refresh_from_db()
    assert deployment.log_size == 11
    assert [line.text for line in logs.lines_after(deployment.pk, 8)][:2] == ["line 8", "line 9"]
