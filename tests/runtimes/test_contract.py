"""The Runtime contract, held by the fake and by the local runtime against a real agent:
the same calls, the same answers, the same errors."""

from __future__ import annotations

import asyncio
import shlex
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from andon.errors import ConflictError, NotFoundError
from andon.runtimes import FakeRuntime, InstancePhase, InstanceSpec, LocalRuntime, Runtime

Scenario = Callable[[Runtime], Awaitable[None]]


@pytest.fixture(params=["fake", "local"])
def contract(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    """Runs a scenario against a fresh runtime of each kind."""

    def make() -> Runtime:
        if request.param == "fake":
            return FakeRuntime()
        agent = request.getfixturevalue("running_agent")
        return LocalRuntime(agent.url, agent.token)

    def run(scenario: Scenario) -> None:
        async def main() -> None:
            runtime = make()
            try:
                await scenario(runtime)
            finally:
                await runtime.close()

        asyncio.run(main())

    return run


def unique(prefix: str = "env") -> str:
    """An environment name no other test uses (the local runtime's agent is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def web(environment: str, release: Path, **fields: Any) -> InstanceSpec:
    return InstanceSpec(
        environment=environment,
        version="1.0",
        process="web",
        command=f"{shlex.quote(sys.executable)} app.py",
        cwd=release,
        health_path="/health",
        stop_timeout=2.0,
        **fields,
    )


async def until_serving(runtime: Runtime, instance_id: str) -> None:
    deadline = time.monotonic() + 10
    while not await runtime.verify_instance(instance_id):
        assert time.monotonic() < deadline, f"{instance_id} never became ready"
        await asyncio.sleep(0.05)


def test_an_environment_is_created_updated_verified_and_removed(
    contract: Callable[[Scenario], None],
) -> None:
    name = unique()

    async def scenario(runtime: Runtime) -> None:
        routing = {"routes": [{"version": "1.0", "weight": 100}]}
        assert await runtime.verify_environment(name, listen_port=None, routing={}) is False
        await runtime.ensure_environment(name, listen_port=None, routing=routing)
        assert await runtime.verify_environment(name, listen_port=None, routing=routing)
        assert await runtime.instances(name) == []
        await runtime.set_routing(name, {"routes": []})
        assert await runtime.verify_environment(name, listen_port=None, routing=routing) is False
        assert await runtime.verify_environment(name, listen_port=None, routing={"routes": []})
        await runtime.ensure_environment(name, listen_port=None, routing=routing)
        assert await runtime.verify_environment(name, listen_port=None, routing=routing)
        await runtime.remove_environment(name)
        assert await runtime.verify_environment(name, listen_port=None, routing=routing) is False

    contract(scenario)


def test_an_instance_starts_becomes_ready_and_stops(
    contract: Callable[[Scenario], None], release: Path
) -> None:
    name = unique()

    async def scenario(runtime: Runtime) -> None:
        await runtime.ensure_environment(name, listen_port=None, routing={})
        started = await runtime.start_instance(web(name, release))
        assert started.environment == name
        assert (started.version, started.process) == ("1.0", "web")
        assert started.port > 0
        assert started.phase in {InstancePhase.STARTING, InstancePhase.READY}
        await until_serving(runtime, started.id)
        (listed,) = await runtime.instances(name)
        assert (listed.id, listed.phase, listed.serving) == (started.id, InstancePhase.READY, True)
        assert isinstance(await runtime.logs(started.id, tail=10), str)
        stopped = await runtime.stop_instance(started.id)
        assert stopped.phase is InstancePhase.STOPPED
        assert await runtime.instances(name) == []
        assert await runtime.verify_instance(started.id) is False
        await runtime.remove_environment(name)

    contract(scenario)


def test_removing_an_environment_stops_its_instances(
    contract: Callable[[Scenario], None], release: Path
) -> None:
    name = unique()

    async def scenario(runtime: Runtime) -> None:
        await runtime.ensure_environment(name, listen_port=None, routing={})
        first = await runtime.start_instance(web(name, release))
        second = await runtime.start_instance(web(name, release))
        assert first.id != second.id
        assert first.port != second.port
        await runtime.remove_environment(name)
        assert await runtime.verify_instance(first.id) is False
        with pytest.raises(NotFoundError):
            await runtime.instances(name)

    contract(scenario)


def test_unknown_environments_and_instances_are_not_found(
    contract: Callable[[Scenario], None], release: Path
) -> None:
    name = unique()

    async def scenario(runtime: Runtime) -> None:
        with pytest.raises(NotFoundError):
            await runtime.start_instance(web(name, release))
        with pytest.raises(NotFoundError):
            await runtime.instances(name)
        with pytest.raises(NotFoundError):
            await runtime.set_routing(name, {})
        with pytest.raises(NotFoundError):
            await runtime.remove_environment(name)
        with pytest.raises(NotFoundError):
            await runtime.stop_instance(f"{name}-web-nope")
        with pytest.raises(NotFoundError):
            await runtime.logs(f"{name}-web-nope")
        assert await runtime.verify_instance(f"{name}-web-nope") is False
        with pytest.raises(NotFoundError):
            await runtime.traffic(name)

    contract(scenario)


def test_a_routed_environment_tells_its_traffic_and_an_unrouted_one_has_none(
    contract: Callable[[Scenario], None],
) -> None:
    routed, unrouted = unique(), unique()

    async def scenario(runtime: Runtime) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        await runtime.ensure_environment(routed, listen_port=port, routing={})
        await runtime.ensure_environment(unrouted, listen_port=None, routing={})
        try:
            assert (await runtime.traffic(routed))["versions"] == {}
            with pytest.raises(NotFoundError, match="no router"):
                await runtime.traffic(unrouted)
        finally:
            await runtime.remove_environment(routed)
            await runtime.remove_environment(unrouted)

    contract(scenario)


def test_a_taken_listen_port_or_instance_id_is_a_conflict(
    contract: Callable[[Scenario], None], release: Path
) -> None:
    first, second = unique(), unique()
    port = 20000 + uuid.uuid4().int % 20000

    async def scenario(runtime: Runtime) -> None:
        await runtime.ensure_environment(first, listen_port=port, routing={})
        await runtime.ensure_environment(second, listen_port=None, routing={})
        with pytest.raises(ConflictError):
            await runtime.ensure_environment(second, listen_port=port, routing={})
        instance = await runtime.start_instance(web(first, release, id=f"{first}-web-a"))
        with pytest.raises(ConflictError):
            await runtime.start_instance(web(first, release, id=instance.id))
        await runtime.remove_environment(first)
        await runtime.remove_environment(second)

    contract(scenario)
