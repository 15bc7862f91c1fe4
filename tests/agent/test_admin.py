"""The admin API in process: every route wants the token, errors have the server's shape,
and a round trip through environments, instances, logs and metrics works."""

from __future__ import annotations

import asyncio
import hashlib
import shlex
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from andon.agent import Agent, SupervisorPolicy, create_admin_app, ensure_token, read_token

PYTHON = shlex.quote(sys.executable)
TOKEN = "s3cret-token"
FAST = SupervisorPolicy(
    poll_interval=0.02,
    readiness_interval=0.05,
    ready_after=0.1,
    drain_seconds=0.0,
    backoff_base=0.02,
)


def call_api(tmp_path: Path, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    async def main() -> None:
        agent = Agent(tmp_path / "state", policy=FAST)
        app = create_admin_app(agent, hashlib.sha256(TOKEN.encode()).hexdigest())
        await agent.start()
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://agent", headers=headers
            ) as client:
                await scenario(client)
        finally:
            for status in agent.all_instances():
                await agent.stop_instance(status.id)
            await agent.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/health"),
        ("GET", "/v1/metrics"),
        ("PUT", "/v1/environments/test"),
        ("POST", "/v1/environments/test/instances"),
        ("DELETE", "/v1/instances/test-web-1"),
        ("GET", "/v1/instances/test-web-1/logs"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer"])
def test_every_route_refuses_a_request_without_the_token(
    tmp_path: Path, method: str, path: str, authorization: str | None
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        client.headers.pop("Authorization")
        response = await client.request(method, path, headers=headers, json={})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        error = response.json()["error"]
        assert error["code"] == "unauthorized"
        assert "Authorization: Bearer <token>" in error["message"]

    call_api(tmp_path, scenario)


def test_errors_have_a_code_and_a_message(tmp_path: Path) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        missing = await client.get("/v1/environments/nope/instances")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        invalid = await client.put("/v1/environments/test", json={"listen_port": 0})
        assert invalid.status_code == 422
        assert invalid.json()["error"]["message"].startswith(
            "the request is invalid at body.listen_port:"
        )
        relative = await client.post(
            "/v1/environments/test/instances",
            json={"version": "1", "process": "web", "command": "true", "cwd": "release"},
        )
        assert relative.status_code == 422
        assert "body.cwd" in relative.json()["error"]["message"]
        await client.put("/v1/environments/a", json={"listen_port": 18999})
        taken = await client.put("/v1/environments/b", json={"listen_port": 18999})
        assert taken.status_code == 409
        assert taken.json()["error"]["code"] == "conflict"

    call_api(tmp_path, scenario)


def test_a_round_trip_through_environments_instances_logs_and_metrics(tmp_path: Path) -> None:
    release = tmp_path / "release"
    release.mkdir()
    body: dict[str, Any] = {
        "version": "2.0",
        "process": "worker",
        "command": "echo hello from $ANDON_INSTANCE; exec sleep 300",
        "cwd": str(release),
        "stop_timeout": 2,
    }

    async def scenario(client: httpx.AsyncClient) -> None:
        created = await client.put("/v1/environments/test", json={"routing": {"a": 1}})
        assert created.status_code == 201
        again = await client.put("/v1/environments/test", json={"routing": {"a": 2}})
        assert again.status_code == 200
        assert again.json()["routing"] == {"a": 2}
        started = await client.post("/v1/environments/test/instances", json=body)
        assert started.status_code == 201
        instance = started.json()
        assert instance["phase"] == "starting"
        assert instance["port"] > 0
        assert instance["id"].startswith("test-worker-")
        deadline = time.monotonic() + 10
        while (await client.get(f"/v1/instances/{instance['id']}")).json()["phase"] != "ready":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        listed = (await client.get("/v1/environments/test/instances")).json()["instances"]
        assert [(i["id"], i["phase"], i["restarts"]) for i in listed] == [
            (instance["id"], "ready", 0)
        ]
        logs = await client.get(f"/v1/instances/{instance['id']}/logs", params={"tail": 5})
        assert f"hello from {instance['id']}\n" in logs.text
        metrics = (await client.get("/v1/metrics")).text
        assert 'andon_agent_instances{environment="test",phase="ready"} 1' in metrics
        assert 'andon_agent_restarts_total{environment="test",reason="crash"} 0' in metrics
        health = (await client.get("/v1/health")).json()
        assert (health["status"], health["environments"], health["instances"]) == ("ok", 1, 1)
        stopped = await client.delete(f"/v1/instances/{instance['id']}")
        assert stopped.json()["phase"] == "stopped"
        removed = await client.delete("/v1/environments/test")
        assert removed.status_code == 200
        assert (await client.get("/v1/environments")).json() == {"environments": []}
        kept = await client.get(f"/v1/instances/{instance['id']}/logs")
        assert "stopped: it exited on SIGTERM." in kept.text

    call_api(tmp_path, scenario)


def test_the_token_is_made_once_readable_by_its_owner_alone(tmp_path: Path) -> None:
    digest = ensure_token(tmp_path)
    token_file = tmp_path / "agent-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert hashlib.sha256(read_token(tmp_path).encode()).hexdigest() == digest
    assert ensure_token(tmp_path) == digest
    token_file.chmod(0o644)
    ensure_token(tmp_path)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_a_crash_loop_is_reported_with_its_exit_code_and_the_end_of_its_log(
    tmp_path: Path,
) -> None:
    release = tmp_path / "release"
    release.mkdir()
    body = {
        "id": "test-web-1",
        "version": "1.0",
        "process": "web",
        "command": "for n in $(seq 30); do echo line $n; done; echo 'no database' >&2; exit 4",
        "cwd": str(release),
    }

    async def scenario(client: httpx.AsyncClient) -> None:
        await client.put("/v1/environments/test", json={})
        await client.post("/v1/environments/test/instances", json=body)
        deadline = time.monotonic() + 10
        while (instance := (await client.get("/v1/instances/test-web-1")).json())[
            "phase"
        ] != "crash_loop":
            assert time.monotonic() < deadline, instance
            await asyncio.sleep(0.02)
        assert instance["last_exit_code"] == 4
        assert instance["restarts"] == 4
        assert instance["pid"] is None
        assert "crashed 5 times within 60s (last, it exited with code 4)" in instance["message"]
        assert len(instance["log_tail"]) == 20
        assert instance["log_tail"][-2:] == ["line 30", "no database"]
        metrics = (await client.get("/v1/metrics")).text
        assert 'andon_agent_crash_loops_total{environment="test"} 1' in metrics
        assert 'andon_agent_restarts_total{environment="test",reason="crash"} 4' in metrics
        assert 'andon_agent_instances{environment="test",phase="crash_loop"} 1' in metrics

    call_api(tmp_path, scenario)
