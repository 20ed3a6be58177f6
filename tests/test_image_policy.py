"""A build sees only what it may use: base images, its own service's images, never
another tenant's, however the Dockerfile spells it. Real engine; the deploy tests
run the real worker, the rest call the policy as the worker does."""

import io
import secrets

import docker
import pytest
from django.conf import settings

from deployments import actions
from deployments.errors import UserError
from deployments.image_policy import confine
from deployments.runtime import get_runtime
from tests.conftest import log_text, wait_for

pytestmark = [pytest.mark.docker]

REFUSED = "is not an image this build may use"
SECRET_APP = (
    "FROM m3o-base/python:bookworm\nWORKDIR /app\nCOPY server.py secret.txt ./\n"
    'USER app\nCMD ["python", "server.py"]\n'
)


def engine():
    return docker.from_env()


def image_name(service_id: int, tag: str) -> str:
    return f"{settings.PLATFORM_NAME}-app/s{service_id}:{tag}"


@pytest.fixture(scope="module")
def carols_image():
    """An image of another tenant's service (carol's), holding a secret, where the
    platform keeps app images. Service ids this high are no test's own."""
    secret = f"carol-secret-{secrets.token_hex(8)}"
    dockerfile = f"FROM m3o-base/static:bookworm\nRUN echo {secret} > /secret.txt\n"
    name = image_name(990001, "d1")
    image, _ = engine().images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=name, rm=True, network_mode="none"
    )
    yield name, image.id, secret
    engine().images.remove(name, noprune=True)


def refusal(text: str, service_id: int = 990002) -> str:
    lines = []
    with pytest.raises(UserError) as refused:
        confine(text, service_id, get_runtime(), lines.append)
    assert lines == [], "nothing is looked up and told before the refusal"
    return str(refused.value)


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM {name}",
        "FROM docker.io/{name}",
        "FROM index.docker.io/{name}",
        "ARG BASE={name}\nFROM $BASE",
        "ARG BASE\nFROM ${{BASE:-{name}}}",
        "ARG A={name}\nARG B=${{A}}\nFROM $B",
        "from {name} as build",
        "FROM \\\n  {name}",
        "FROM m3o-base/static:bookworm\nCOPY --from={name} /secret.txt /",
        "FROM m3o-base/static:bookworm\nCOPY --chown=1\t--from={name} /secret.txt /",
        "FROM m3o-base/static:bookworm\nCOPY --FROM={name} /secret.txt /",
        "ARG IT={name}\nFROM m3o-base/static:bookworm\nCOPY --from=${{IT}} /secret.txt /",
        "FROM m3o-base/static:bookworm\nCOPY --from=later /secret.txt /\nFROM {name} AS later",
        "FROM m3o-base/static:bookworm\nRUN echo \\\n\nFROM {name}",
        "FROM {id}",
        "FROM {bare_id}",
        "FROM {short_id}",
        "FROM m3o-base/static:bookworm\nCOPY --from={short_id} /secret.txt /",
    ],
)
def test_no_spelling_of_another_tenants_image_gets_through(carols_image, dockerfile):
    name, image_id, _ = carols_image
    bare = image_id.removeprefix("sha256:")
    text = dockerfile.format(name=name, id=image_id, bare_id=bare, short_id=bare[:12])
    assert REFUSED in refusal(text + "\n")


def test_a_refusal_reads_the_same_whether_the_image_exists_or_not(carols_image):
    name, image_id, _ = carols_image
    missing = image_name(990009, "d1")
    assert engine().images.list(name=missing) == []
    for template in ("FROM {}\n", "FROM m3o-base/static:bookworm\nCOPY --from={} /a /b\n"):
        assert refusal(template.format(name)) == refusal(template.format(missing)).replace(missing, name)
    unknown_id = "f" * 64
    assert refusal(f"FROM {image_id[7:19]}\n") == refusal(f"FROM {unknown_id[:12]}\n").replace(
        unknown_id[:12], image_id[7:19]
    )


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        ("FROM m3o-base/static:bookworm\nONBUILD COPY --from={name} /secret.txt /", "ONBUILD"),
        ("FROM m3o-base/static:bookworm\nRUN --mount=type=bind,from={name},target=/c cat /c/x", "BuildKit"),
        ("# escape=`\nFROM m3o-base/static:bookworm\nRUN echo `\nFROM {name}", "escape directive"),
        ("RUN cat /secret.txt\nFROM {name}", "starts with FROM"),
        ("FROM ${{UNSET:?{name}}}", "uses a form"),
        ("FROM m3o-base/static:bookworm\nCOPY --from /secret.txt /", "--from=<name>"),
        ("FROM m3o-base/static:bookworm\nCOPY --from=3 /secret.txt /", "names no earlier stage"),
        ("FROM m3o-base/static:bookworm\nRUN echo \\", "continuing into nothing"),
        ("FROM m3o-base/static:bookworm\nRUN echo hi\rFROM {name}", "characters it may not have"),
    ],
)
def test_what_the_policy_cannot_check_is_refused_plainly(carols_image, dockerfile, message):
    assert message in refusal(dockerfile.format(name=carols_image[0]) + "\n")


def test_the_engine_gets_image_ids_and_stage_names_of_ours_only(carols_image):
    base = engine().images.get("m3o-base/static:bookworm").id
    text = (
        "ARG BASE=m3o-base/static:bookworm\n"
        "FROM ${BASE} AS Build\n"
        "RUN echo hi \\\n"
        "  # a comment inside the continuation\n"
        "  there\n"
        "FROM scratch AS other\n"
        "FROM build\n"
        "COPY --from=BUILD /etc/os-release /a\n"
        "COPY --from=1 / /b\n"
    )
    told = []
    written = confine(text, 990002, get_runtime(), told.append)
    assert written == (
        "ARG BASE=m3o-base/static:bookworm\n"
        f"FROM {base} AS m3o-stage-0\n"
        "RUN echo hi   there\n"
        "FROM scratch AS m3o-stage-1\n"
        "FROM m3o-stage-0 AS m3o-stage-2\n"
        "COPY --from=m3o-stage-0 /etc/os-release /a\n"
        "COPY --from=m3o-stage-1 / /b\n"
    )
    assert told == [f"==> Line 2: m3o-base/static:bookworm is image {base[7:19]}"]


def test_a_service_may_build_from_its_own_image_by_name_or_id(carols_image):
    name, image_id, _ = carols_image
    own = 990001  # carol's own service
    for spelled in (name, image_id, image_id[7:19]):
        assert confine(f"FROM {spelled}\n", own, get_runtime(), lambda line: None) == (
            f"FROM {image_id} AS m3o-stage-0\n"
        )


def test_an_allowed_image_with_onbuild_triggers_is_refused(carols_image):
    dockerfile = f"FROM m3o-base/static:bookworm\nONBUILD COPY --from={carols_image[0]} /secret.txt /\n"
    name = image_name(990003, "d1")
    engine().images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=name, rm=True, network_mode="none")
    try:
        message = refusal(f"FROM {name}\n", service_id=990003)
    finally:
        engine().images.remove(name, noprune=True)
    assert "has ONBUILD triggers" in message


def test_registry_images_only_where_the_operator_allows_and_never_a_tenants(carols_image, settings):
    settings.BUILD_IMAGE_PATTERNS = ["registry.invalid/allowed/*"]
    # A name of this installation's own: a run of another one beside it tags and removes its own.
    allowed = f"registry.invalid/allowed/{settings.PLATFORM_NAME}-tool:1"
    engine().images.get("m3o-base/static:bookworm").tag(allowed)
    try:
        assert confine(f"FROM {allowed}\n", 990002, get_runtime(), lambda line: None).startswith(
            f"FROM {engine().images.get(allowed).id} AS"
        )
        assert REFUSED in refusal("FROM registry.invalid/other/tool:1\n")
        assert "could not be pulled" in refusal("FROM registry.invalid/allowed/missing:1\n")
    finally:
        engine().images.remove(allowed, noprune=True)
    settings.BUILD_IMAGE_PATTERNS = ["*"]
    assert REFUSED in refusal(f"FROM {carols_image[0]}\n")
    other_installation = f"other-{settings.PLATFORM_NAME}-app/s990001:d1"
    engine().images.get(carols_image[0]).tag(other_installation)
    try:
        assert REFUSED in refusal(f"FROM {other_installation}\n")
    finally:
        engine().images.remove(other_installation, noprune=True)
    assert REFUSED in refusal("FROM m3o-base/not-built:bookworm\n")


# --- through the real worker -------------------------------------------------


def deploy(user, repo, name="web"):
    return wait_for(actions.deploy_repository(user, name=name, repository_url=repo.url))


def alices_secret_service(alice, make_repo):
    secret = f"alice-secret-{secrets.token_hex(8)}"
    repo = make_repo("python-dockerfile")
    repo.commit("keep a secret", {"secret.txt": secret + "\n", "Dockerfile": SECRET_APP})
    deployment = deploy(alice, repo)
    assert deployment.state == "running", log_text(deployment)
    return deployment, secret


@pytest.mark.parametrize(
    "attack",
    [
        "FROM {image}\nRUN cat /app/secret.txt",
        "ARG APP={image}\nFROM ${{APP}}\nRUN cat /app/secret.txt",
        "FROM m3o-base/python:bookworm\nCOPY --from={image} /app/secret.txt /\nRUN cat /secret.txt",
        "FROM {short_id}\nRUN cat /app/secret.txt",
    ],
    ids=["direct", "arg", "copy-from", "short-id"],
)
def test_bob_cannot_build_from_alices_image(worker, alice, bob, make_repo, attack):
    victim, secret = alices_secret_service(alice, make_repo)
    short_id = engine().images.get(victim.image).id[7:19]
    repo = make_repo("python-dockerfile")
    repo.commit("read alice's code", {"Dockerfile": attack.format(image=victim.image, short_id=short_id)})
    deployment = deploy(bob, repo, name="thief")
    assert deployment.state == "failed"
    assert REFUSED in deployment.failure_reason
    log = log_text(deployment)
    assert "Step 1/" not in log, "no step of the build ran"
    assert secret not in log
    assert engine().images.list(name=image_name(deployment.service_id, f"d{deployment.pk}")) == []
    victim.refresh_from_db()
    assert victim.state == "running"


def test_own_earlier_image_and_base_images_still_build(worker, alice, make_repo):
    first, secret = alices_secret_service(alice, make_repo)
    repo = make_repo("python-dockerfile")
    dockerfile = (
        f"FROM {first.image} AS earlier\n"
        "FROM m3o-base/python:bookworm\nWORKDIR /app\n"
        "COPY --from=earlier /app/secret.txt /app/server.py ./\n"
        "RUN cat secret.txt\n"
        'USER app\nCMD ["python", "server.py"]\n'
    )
    repo.commit("build on the earlier image", {"Dockerfile": dockerfile})
    # The same service (same name, same environment), now from a repository built on its earlier image.
    second = deploy(alice, repo)
    assert second.service_id == first.service_id
    assert second.state == "running", log_text(second)
    log = log_text(second)
    assert f"{first.image} is image" in log
    assert secret in log
