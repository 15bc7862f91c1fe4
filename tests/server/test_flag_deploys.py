"""Deploys apply the flags their andon.yaml declares: an environment created by ``env up``
takes its release's flags, and a rollout that succeeds applies the new release's, both
recorded as ``declared`` by the deploy. Real store, git and artifacts of the tiny service;
a fake runtime."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from andon.environments import EnvironmentLifecycle
from andon.runtimes import FakeRuntime
from andon.server import create_app
from andon.server.deploys import DeployRequest
from andon.server.rolling_out import RolloutController
from andon.spec import load_spec
from andon.store import RolloutStatus
from andon.testing import bearer

FLAGS = """
flags:
  flags:
    new-checkout:
      variants: {on: true, off: false}
      defaultVariant: %s
"""


def release(tiny: Any, tmp_path: Path, default_variant: str) -> tuple[str, str]:
    """A commit of the tiny service whose andon.yaml declares new-checkout serving
    ``default_variant``, and its artifact from a green pipeline."""
    spec = tiny.repo / "andon.yaml"
    text = spec.read_text().split("\nflags:")[0].rstrip("\n") + "\n"
    # Another app too: an artifact is content-addressed, and andon.yaml is not packaged.
    changes = {
        "andon.yaml": text + FLAGS % default_variant,
        "app.py": f"print('new checkout {default_variant}')\n",
    }
    return tiny.release(  # type: ignore[no-any-return]
        changes, f"new-checkout {default_variant}", tmp_path / f"built-{default_variant}"
    )


def test_env_up_and_a_rollout_that_succeeds_apply_the_declared_flags(
    tiny_service: Any, tmp_path: Path
) -> None:
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
    first, first_artifact = release(tiny_service, tmp_path, "off")
    second, second_artifact = release(tiny_service, tmp_path, "on")
    lifecycle.vault.set(
        load_spec(tiny_service.repo / "andon.yaml"), "tiny", "test", "TOKEN", "a-token-to-mask"
    )
    flags_url = "/api/v1/projects/tiny/environments/test/flags"

    with TestClient(app, headers=bearer(tiny_service.settings, tiny_service.store)) as client:
        created = client.post(
            "/api/v1/projects/tiny/environments",
            json={"name": "test", "artifact": first_artifact},
        )
        assert created.status_code == 202, created.text
        deadline = time.monotonic() + 20
        while (environment := client.get("/api/v1/projects/tiny/environments/test").json())["busy"]:
            assert time.monotonic() < deadline, "env up did not end"
            time.sleep(0.02)
        assert environment["status"] == "ready", environment
        after_up = client.get(f"{flags_url}/new-checkout").json()

        async def roll_out() -> RolloutStatus:
            record = await app.state.deploys.deploy(
                DeployRequest(project="tiny", environment="test", artifact=second_artifact)
            )
            controller = RolloutController(tiny_service.store, lifecycle, flags=app.state.flags)
            limit = time.monotonic() + 20
            try:
                while not (record := await controller.tick(record.id)).status.finished:
                    assert time.monotonic() < limit, record.message
                    await asyncio.sleep(0.02)
            finally:
                await controller.stop()
            return record.status

        assert asyncio.run(roll_out()) is RolloutStatus.SUCCEEDED
        after_rollout = client.get(f"{flags_url}/new-checkout").json()
        history = client.get(f"{flags_url}/history").json()

    assert after_up["flag"]["defaultVariant"] == "off"
    assert after_rollout["flag"]["defaultVariant"] == "on"
    assert after_rollout["conflict"] is None
    assert [(entry["kind"], entry["actor"].split(" (")[0]) for entry in history] == [
        ("declared", f"deploy of {second[:12]}"),
        ("declared", f"deploy of {first[:12]}"),
    ]
