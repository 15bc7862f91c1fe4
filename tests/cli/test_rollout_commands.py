"""The real ``andon`` command follows and steers rollouts through a real HTTP server:
the tiny service's server runs in this process over a fake runtime, with one rollout
driven to its end by the rollout controller, and the CLI runs as its own process, as a
user runs it — ``rollout status --json``, ``rollout history``, and commands the server
refuses, which exit 1 with one ``error:`` line and no traceback."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from andon.environments import EnvironmentLifecycle
from andon.runtimes import FakeRuntime
from andon.server import create_app
from andon.server.deploys import DeployRequest
from andon.server.rolling_out import RolloutController
from andon.spec import load_spec
from andon.store import EnvironmentStatus, RolloutStatus
from andon.testing import serve
from andon.testing.commands import andon, refusal, stdout_of


@dataclass(frozen=True)
class Deployed:
    """The server's URL, and the rollout of ``new`` over ``old`` that succeeded."""

    url: str
    rollout_id: int
    old: str
    new: str
    new_artifact: str


def build_release(tiny: Any, tmp_path: Any) -> tuple[str, str]:
    """A second commit of the tiny service and its artifact, from a green pipeline."""
    changes = {"app.py": "print('a tiny service, version 2')\n"}
    return tiny.release(changes, "version 2", tmp_path / "built")  # type: ignore[no-any-return]


@pytest.fixture
def deployed(tiny_service: Any, tmp_path: Any, port: int) -> Iterator[Deployed]:
    """Environment ``test`` of the tiny service, up and then rolled to a second release,
    served over HTTP on ``port`` until the test ends."""
    fake = FakeRuntime()
    lifecycle = EnvironmentLifecycle(
        tiny_service.store,
        tiny_service.settings,
        runtimes=lambda kind: fake,
        await_router=False,
        poll_interval=0.01,
    )
    app = create_app(
        tiny_service.settings, tiny_service.store, controllers=False, lifecycle=lifecycle
    )
    new, artifact = build_release(tiny_service, tmp_path)

    async def roll_out() -> int:
        spec = load_spec(tiny_service.repo / "andon.yaml")
        lifecycle.vault.set(spec, "tiny", "test", "TOKEN", "a-token-long-enough-to-mask")
        order = lifecycle.compose(project="tiny", name="test", artifact=tiny_service.artifact)
        lifecycle.begin(order)
        assert (await lifecycle.up(order)).status is EnvironmentStatus.READY
        record = await app.state.deploys.deploy(
            DeployRequest(project="tiny", environment="test", artifact=artifact, by="ann")
        )
        controller = RolloutController(tiny_service.store, lifecycle)
        limit = time.monotonic() + 20
        try:
            while not (record := await controller.tick(record.id)).status.finished:
                assert time.monotonic() < limit, record.message
                await asyncio.sleep(0.02)
        finally:
            await controller.stop()
        assert record.status is RolloutStatus.SUCCEEDED, record.message
        return int(record.id)

    rollout_id = asyncio.run(roll_out())
    with serve(app, port) as url:
        yield Deployed(url, rollout_id, tiny_service.commit, new, artifact)


def run(deployed: Deployed, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI, as a user runs it, against the server."""
    return andon(*args, "--project", "tiny", "--url", deployed.url)


def ok(deployed: Deployed, *args: str) -> str:
    return stdout_of(run(deployed, *args))


def test_rollout_status_and_history_show_it_and_refused_commands_exit_1(
    deployed: Deployed,
) -> None:
    shown = json.loads(ok(deployed, "rollout", "status", "test", "--json"))
    assert (shown["id"], shown["status"], shown["phase"]) == (
        deployed.rollout_id,
        "succeeded",
        "succeeded",
    )
    assert (shown["from_version"], shown["to_version"]) == (deployed.old, deployed.new)
    assert shown["traffic"]["weights"] == {deployed.new: 100}
    assert shown["decisions"][-1]["kind"] == "finished"
    text = ok(deployed, "rollout", "status", "test")
    assert f"Rollout #{deployed.rollout_id} of {deployed.new[:12]}" in text
    assert "succeeded" in text and "finished:" in text
    history = ok(deployed, "rollout", "history", "test").splitlines()
    assert history[0].startswith(f"#{deployed.rollout_id} ") and "succeeded" in history[0]
    assert f"{deployed.old[:12]} → {deployed.new[:12]}" in history[0] and "by ann" in history[0]
    assert history[1].strip().startswith("finished: ")

    promote = refusal(run(deployed, "rollout", "promote", "test"), 1)
    assert f"cannot promote rollout #{deployed.rollout_id}" in promote
    assert promote.endswith("has succeeded already.")
    again = refusal(run(deployed, "deploy", "test", "--artifact", deployed.new_artifact), 1)
    assert f"{deployed.new} serves this environment already" in again
