"""How a checkout is built: its Dockerfile, or one generated for its language."""

import json

import pytest

from deployments.build import plan
from deployments.errors import UserError


def write(folder, files):
    for name, text in files.items():
        (folder / name).write_text(text)


def test_a_repository_dockerfile_wins(tmp_path):
    write(tmp_path, {"Dockerfile": "FROM scratch\n", "package.json": "{}"})
    result = plan(tmp_path, 8080)
    assert result.dockerfile == "FROM scratch\n"
    assert not result.generated


def test_procfile_web_line_is_the_start_command(tmp_path):
    write(tmp_path, {"requirements.txt": "", "Procfile": "release: x\nweb: gunicorn app:app\n"})
    result = plan(tmp_path, 5000)
    dockerfile = result.dockerfile
    assert result.start_command == "gunicorn app:app"
    assert 'CMD ["/bin/sh", "-c", "exec gunicorn app:app"]' in dockerfile
    assert "ENV PORT=5000" in dockerfile
    assert "USER app" in dockerfile
    assert "RUN pip install -r requirements.txt" in dockerfile


def test_base_images_are_a_setting(tmp_path, settings):
    settings.BASE_IMAGES = {**settings.BASE_IMAGES, "python": "python:3.12-slim"}
    write(tmp_path, {"pyproject.toml": "[project]\nname='x'\n", "main.py": ""})
    dockerfile = plan(tmp_path, 8080).dockerfile
    assert dockerfile.startswith("FROM python:3.12-slim\n")
    assert "RUN pip install ." in dockerfile


def test_python_without_a_start_command_says_what_to_add(tmp_path):
    write(tmp_path, {"requirements.txt": "flask\n"})
    with pytest.raises(UserError, match=r"add a Procfile with a 'web:' line, or a main\.py or app\.py"):
        plan(tmp_path, 8080)


def test_node_without_a_start_script_says_what_to_add(tmp_path):
    write(tmp_path, {"package.json": json.dumps({"name": "x"})})
    with pytest.raises(UserError, match="add a 'start' script"):
        plan(tmp_path, 8080)


def test_node_uses_npm_ci_with_a_lock_file(tmp_path):
    write(tmp_path, {"package.json": json.dumps({"scripts": {"start": "node ."}}), "package-lock.json": "{}"})
    assert "RUN npm ci --omit=dev" in plan(tmp_path, 8080).dockerfile


def test_broken_package_json_is_reported(tmp_path):
    write(tmp_path, {"package.json": "{not json"})
    with pytest.raises(UserError, match=r"package\.json is not valid JSON"):
        plan(tmp_path, 8080)


def test_go_and_static_are_detected(tmp_path):
    go = tmp_path / "go"
    go.mkdir()
    write(go, {"go.mod": "module x\n", "main.go": "package main\n"})
    assert plan(go, 8080).language == "go"
    site = tmp_path / "site"
    site.mkdir()
    write(site, {"index.html": "<h1>hi</h1>"})
    assert plan(site, 8080).start_command == "serve-static /srv/www"


def test_nothing_known_names_what_was_looked_for(tmp_path):
    write(tmp_path, {"README.md": "hello"})
    with pytest.raises(UserError, match=r"looked for a Dockerfile, requirements\.txt or pyproject\.toml"):
        plan(tmp_path, 8080)


def test_a_dockerfile_link_out_of_the_repository_is_refused(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "secret").write_text("FROM scratch\n")
    (repo / "Dockerfile").symlink_to(tmp_path / "secret")
    with pytest.raises(UserError, match="points outside the repository"):
        plan(repo, 8080)
