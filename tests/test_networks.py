"""Networks for many environments: small subnets from the operator's range, safe with
concurrent workers, a plain message for the operator when the range is full.

The engine's default pools hold about 30 bridge networks. The many-environments test
runs MANY_ENVIRONMENTS (300 by default, as the issue asks) environments, each with a
running service on a network of its own: ten times past the old limit, in about four
minutes on this 2-core machine. The pool's capacity of thousands is shown on the
allocator itself.
"""

import io
import ipaddress
import os
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest
from django.conf import settings

from deployments.errors import PlatformError
from deployments.models import Deployment, Service
from deployments.runtime import InstanceSpec, get_runtime, subnets
from deployments.runtime.docker import network_name
from environments import actions as env_actions
from tests import own
from tests.waiting import eventually

MANY = int(os.environ.get("MANY_ENVIRONMENTS", "300"))
DELETED = 10  # of them deleted through the action, which gives their networks back


@pytest.fixture
def sleeper_image(engine_clean_up):
    """The smallest image that keeps running: the Debian base image, sleeping (no layer of its own)."""
    tag = f"{settings.PLATFORM_NAME}-app/s0:sleeper"
    dockerfile = f'FROM {settings.BASE_IMAGE_PREFIX}/debian:bookworm\nCMD ["sleep", "infinity"]\n'
    docker.from_env().images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    return tag


def test_the_default_pool_holds_thousands_of_small_networks():
    assert subnets.capacity() == 16384
    picked = subnets.pick([], count=50)
    assert len(set(picked)) == 50
    for subnet in picked:
        network = ipaddress.IPv4Network(subnet)
        assert network.prefixlen == 26
        assert network.subnet_of(ipaddress.IPv4Network("10.160.0.0/12"))


def test_subnets_in_use_on_the_engine_are_never_picked(settings):
    settings.NETWORK_POOL, settings.NETWORK_PREFIX = "10.180.0.0/24", 26
    # A wider network someone else made covers two of the four; a /28 inside one covers it.
    in_use = ["10.180.0.0/25", "10.180.0.200/28", "172.17.0.0/16", "fd00::/64", "nonsense"]
    for _ in range(20):
        assert subnets.pick(in_use) == ["10.180.0.128/26"]
    with pytest.raises(PlatformError) as full:
        subnets.pick([*in_use, "10.180.0.128/26"])
    assert "all 4 subnets (/26) of NETWORK_POOL=10.180.0.0/24 are in use" in str(full.value)
    assert "widen NETWORK_POOL" in str(full.value)


def test_a_full_pool_is_a_platform_error_with_a_message_for_the_operator(settings, engine_clean_up):
    settings.NETWORK_POOL, settings.NETWORK_PREFIX = "10.181.7.0/28", 29  # room for two networks
    runtime = get_runtime()
    ids = (990001, 990002, 990003)  # environments no database of the run has
    runtime.ensure_network(990001)
    runtime.ensure_network(990002)
    with pytest.raises(PlatformError) as full:
        runtime.ensure_network(990003)
    assert "NETWORK_POOL=10.181.7.0/28" in str(full.value)
    assert sorted(own.networks(*ids).values()) == ["10.181.7.0/29", "10.181.7.8/29"]
    # Removing a network frees its subnet for the next environment.
    runtime.remove_network(990001)
    runtime.ensure_network(990003)
    assert set(own.networks(*ids)) == {network_name(990002), network_name(990003)}


def test_workers_racing_for_the_last_subnets_each_get_one(settings, engine_clean_up):
    settings.NETWORK_POOL, settings.NETWORK_PREFIX = "10.181.8.0/26", 29  # eight networks
    runtime = get_runtime()
    ids = range(990010, 990018)  # environments no database of the run has
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(runtime.ensure_network, ids))
    made = own.networks(*ids)
    assert len(made) == 8
    assert len(set(made.values())) == 8
    # The same environment asked for twice at once still has one network.
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(runtime.ensure_network, [990010] * 4))
    assert len(own.networks(*ids)) == 8


@pytest.mark.timeout(1500)  # 300 containers on 2 cores: minutes, more on a busy machine
def test_many_environments_each_run_a_service_on_a_network_of_their_own(alice, worker, sleeper_image):
    runtime = get_runtime()
    services = []
    for number in range(MANY):
        environment = env_actions.create_environment(alice, name=f"env-{number}")
        services.append(
            Service.objects.create(
                environment=environment, name="sleeper", repository_url="https://example.com/sleeper.git"
            )
        )  # fmt: skip

    def start(service: Service) -> str:
        deployment = Deployment.objects.create(service=service, branch="main", image=sleeper_image)
        spec = InstanceSpec(
            service_id=service.pk, environment_id=service.environment_id, deployment_id=deployment.pk,
            alias=service.name, image=sleeper_image, port=8080,
        )  # fmt: skip
        instance = runtime.start(spec)
        Deployment.objects.filter(pk=deployment.pk).update(
            state=Deployment.State.RUNNING, instance_id=instance.id, host_port=instance.host_port
        )
        Service.objects.filter(pk=service.pk).update(live_deployment=deployment)
        return instance.id

    # Four at a time, as several workers would start them.
    with ThreadPoolExecutor(4) as pool:
        instance_ids = list(pool.map(start, services))
    assert all(runtime.state(instance_id).running for instance_id in instance_ids)
    ids = [service.environment_id for service in services]
    made = own.networks(*ids)
    assert set(made) == {network_name(s.environment_id) for s in services}
    assert len(set(made.values())) == MANY  # no two environments share a subnet
    pool = ipaddress.IPv4Network(settings.NETWORK_POOL)
    assert all(ipaddress.IPv4Network(subnet).subnet_of(pool) for subnet in made.values())

    # Deleted environments give their networks back (a sample: the worker's clean-up
    # of each reloads the proxy; the rest are removed straight from the engine).
    deleted = services[:DELETED]
    for service in deleted:
        env_actions.delete_environment(service.environment, alice)
    gone = {network_name(s.environment_id) for s in deleted}
    eventually(
        lambda: not gone & set(own.networks(*ids)),
        timeout=120,
        message=lambda: f"left: {sorted(gone & set(own.networks(*ids)))}",
    )
    assert len(own.networks(*ids)) == MANY - DELETED
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(runtime.remove_environment, ids[DELETED:]))
    assert own.networks(*ids) == {}
