"""The local runtime beyond the contract: the example shop deployed through a real agent,
and what an agent that is away or refuses the token looks like to the engines."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from andon.errors import ConfigurationError, ServerUnreachableError
from andon.runtimes import InstancePhase, InstanceSpec, LocalRuntime

if TYPE_CHECKING:
    from tests.runtimes.conftest import RunningAgent

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"

pytestmark = pytest.mark.e2e


def test_the_example_shop_runs_under_the_agent_and_stops_gracefully(
    running_agent: RunningAgent, tmp_path: Path
) -> None:
    release = tmp_path / "shop-1.4.0"
    shutil.copytree(SHOP / "shop", release / "shop", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SHOP / "migrations", release / "migrations")
    subprocess.run(
        [sys.executable, "-m", "shop.migrate"], cwd=release, check=True, capture_output=True
    )
    spec = InstanceSpec(
        environment="shop-test",
        version="1.4.0",
        process="web",
        command=f"{sys.executable} -m shop",
        cwd=release,
        health_path="/healthz",
        stop_timeout=5.0,
    )

    async def scenario() -> None:
        runtime = LocalRuntime(running_agent.url, running_agent.token)
        try:
            await runtime.ensure_environment("shop-test", listen_port=None, routing={})
            started = await runtime.start_instance(spec)
            deadline = time.monotonic() + 15
            while not await runtime.verify_instance(started.id):
                assert time.monotonic() < deadline, await runtime.logs(started.id)
                await asyncio.sleep(0.05)
            async with httpx.AsyncClient() as client:
                health = (await client.get(f"http://127.0.0.1:{started.port}/healthz")).json()
            assert health == {"status": "ok", "version": "1.4.0"}
            stopped = await runtime.stop_instance(started.id)
            assert stopped.phase is InstancePhase.STOPPED
            assert stopped.message == "stopped: it exited on SIGTERM."
            assert stopped.last_exit_code == 0
            assert "GET /healthz" in await runtime.logs(started.id, tail=50)
            await runtime.remove_environment("shop-test")
        finally:
            await runtime.close()

    asyncio.run(scenario())


def test_an_agent_that_does_not_answer_is_a_temporary_error_and_cannot_tell(
    port: int,
) -> None:
    async def scenario() -> None:
        runtime = LocalRuntime(f"http://127.0.0.1:{port}", "token")
        try:
            with pytest.raises(ServerUnreachableError, match="start it with 'andon agent'"):
                await runtime.instances("test")
            assert await runtime.verify_instance("test-web-1") is None
            assert await runtime.verify_environment("test", listen_port=None, routing={}) is None
        finally:
            await runtime.close()

    asyncio.run(scenario())


def test_a_refused_or_missing_token_says_where_the_token_is(
    running_agent: RunningAgent, tmp_path: Path
) -> None:
    async def scenario() -> None:
        wrong = LocalRuntime(running_agent.url, "not-the-token")
        missing = LocalRuntime(running_agent.url, tmp_path / "agent-token")
        from_file = LocalRuntime(running_agent.url, running_agent.state / "agent-token")
        try:
            with pytest.raises(ConfigurationError, match="refused the token"):
                await wrong.instances("test")
            with pytest.raises(ConfigurationError, match="cannot read the agent's token"):
                await missing.instances("test")
            assert (await from_file.health())["status"] == "ok"
        finally:
            for runtime in (wrong, missing, from_file):
                await runtime.close()

    asyncio.run(scenario())
