"""The fake runtime's handles for engine tests, the factory keyed on runtime kind, and the
phase vocabulary shared with the agent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from andon.agent import InstancePhase as AgentPhase
from andon.agent import running
from andon.errors import ConfigurationError, ServerUnreachableError
from andon.runtimes import (
    FakeRuntime,
    InstancePhase,
    InstanceSpec,
    LocalRuntime,
    agent_state_dir,
    local,
    runtime_for,
)
from andon.settings import Settings
from andon.spec import RuntimeKind

SPEC = InstanceSpec(
    environment="test", version="2.0", process="web", command="run", cwd=Path("/srv")
)


def test_a_test_drives_what_happens_to_fake_instances() -> None:
    async def scenario() -> None:
        runtime = FakeRuntime(ready_at_once=False)
        await runtime.ensure_environment("test", listen_port=8080, routing={})
        started = await runtime.start_instance(SPEC)
        assert started.phase is InstancePhase.STARTING
        assert await runtime.verify_instance(started.id) is False
        runtime.make_ready(started.id)
        assert await runtime.verify_instance(started.id) is True
        runtime.crash(started.id, exit_code=3, loop=True, log="boom\nfatal: no database")
        (status,) = await runtime.instances("test")
        assert (status.phase, status.last_exit_code) == (InstancePhase.CRASH_LOOP, 3)
        assert status.log_tail == ("boom", "fatal: no database")
        assert (await runtime.logs(started.id, tail=1)) == "fatal: no database\n"
        assert runtime.actions == [
            ("ensure_environment", "test"),
            ("start_instance", started.id),
        ]

    asyncio.run(scenario())


def test_an_unreachable_fake_raises_a_temporary_error_and_cannot_tell() -> None:
    async def scenario() -> None:
        runtime = FakeRuntime()
        await runtime.ensure_environment("test", listen_port=None, routing={})
        runtime.reachable = False
        with pytest.raises(ServerUnreachableError):
            await runtime.instances("test")
        assert await runtime.verify_environment("test", listen_port=None, routing={}) is None
        assert await runtime.verify_instance("test-web-1") is None

    asyncio.run(scenario())


def test_the_factory_makes_the_runtime_of_each_kind(tmp_path: Path) -> None:
    settings = Settings.from_env({"ANDON_HOME": str(tmp_path)})
    local = runtime_for(RuntimeKind.LOCAL, settings)
    assert isinstance(local, LocalRuntime)
    assert local.url == "http://127.0.0.1:8701"
    assert agent_state_dir(settings) == tmp_path / "agent"
    asyncio.run(local.close())
    assert isinstance(runtime_for("fake", settings), FakeRuntime)
    with pytest.raises(ConfigurationError, match="ssh runtime is not available yet"):
        runtime_for(RuntimeKind.SSH, settings)
    with pytest.raises(ConfigurationError, match="unknown runtime 'docker'"):
        runtime_for("docker", settings)


def test_runtimes_and_the_agent_speak_the_same_phases() -> None:
    assert [phase.value for phase in InstancePhase] == [phase.value for phase in AgentPhase]


def test_the_local_runtime_finds_the_agent_where_andon_agent_puts_it() -> None:
    assert local.DEFAULT_AGENT_URL.endswith(f":{running.DEFAULT_ADMIN_PORT}")
    assert local.TOKEN_FILE_NAME == running.TOKEN_FILE_NAME
