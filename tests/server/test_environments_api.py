"""The environments and secrets API, served in-process over the tiny service (real store,
git, artifact and commands; a fake runtime): creating in the background with its steps,
the line guarding a protected environment, secrets that never come back out, and the
controllers the scheduler's tick drives — the TTL reaper and the drift checker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from andon.environments import EnvironmentLifecycle
from andon.runtimes import FakeRuntime
from andon.server import create_app
from andon.server.api.environments import new_lines
from andon.server.drift_checking import DriftChecker
from andon.server.operations import EnvironmentOperations
from andon.server.reaping import EnvironmentReaper
from andon.spec import load_spec
from andon.store import EnvironmentKind, EnvironmentStatus, LineState, PipelineStatus
from andon.testing import bearer

SECRET = "s3cr3t-for-the-api"
BASE = "/api/v1/projects/tiny"


@pytest.fixture
def fake() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def lifecycle(tiny_service: Any, fake: FakeRuntime) -> EnvironmentLifecycle:
    return EnvironmentLifecycle(
        tiny_service.store,
        tiny_service.settings,
        runtimes=lambda kind: fake,
        await_router=False,
        poll_interval=0.01,
    )


@pytest.fixture
def client(tiny_service: Any, lifecycle: EnvironmentLifecycle) -> Iterator[TestClient]:
    app = create_app(
        tiny_service.settings, tiny_service.store, controllers=False, lifecycle=lifecycle
    )
    with TestClient(app, headers=bearer(tiny_service.settings, tiny_service.store)) as test_client:
        yield test_client


def settled(client: TestClient, name: str) -> dict[str, Any]:
    """The environment once its operation is over."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found: dict[str, Any] = client.get(f"{BASE}/environments/{name}").json()
        if not found["busy"]:
            return found
        time.sleep(0.02)
    raise AssertionError(f"environment {name} is still busy")


def test_an_environment_is_created_in_the_background_and_shows_its_steps(
    client: TestClient, fake: FakeRuntime
) -> None:
    assert client.put(f"{BASE}/environments/test/secrets/TOKEN", json={"value": SECRET}).is_success

    created = client.post(f"{BASE}/environments", json={"name": "test"})

    assert created.status_code == 202, created.text
    assert created.json()["status"] == "creating"
    ready = settled(client, "test")
    assert ready["status"] == "ready", ready["message"]
    steps = ready["operation"]["steps"]
    assert [step["step"] for step in steps][:3] == ["unpack", "database", "config"]
    assert all(step["status"] == "done" and step["seconds"] >= 0 for step in steps)
    assert ready["health"] == "healthy"
    assert [i["name"] for i in ready["instances"]] == ["web-1"]
    assert ready["ttl_seconds"] is None and ready["age_seconds"] >= 0
    migrate = client.get(f"{BASE}/environments/test/logs", params={"process": "migrate"}).text
    assert "migrating with token ***" in migrate and SECRET not in migrate
    fake.write_log("tiny.test.web-1", f"charging with {SECRET}")
    assert client.get(f"{BASE}/environments/test/logs").text.endswith("charging with ***\n")
    again = client.post(f"{BASE}/environments", json={"name": "test"})
    assert again.status_code == 409 and "andon env recreate test" in again.text
    listed = client.get(f"{BASE}/environments").json()
    assert [env["name"] for env in listed] == ["test"]

    # Recreated from its declaration: the same artifact, behind the same URL.
    assert client.post(f"{BASE}/environments/test/recreate").status_code == 202
    rebuilt = settled(client, "test")
    assert (rebuilt["status"], rebuilt["url"]) == ("ready", ready["url"]), rebuilt["message"]
    assert [step["step"] for step in rebuilt["operation"]["steps"]][:3] == [
        "stop",
        "drop",
        "clean",
    ]
    assert [op["action"] for op in rebuilt["operations"]] == ["up", "recreate"]

    assert client.delete(f"{BASE}/environments/test").status_code == 202
    gone = settled(client, "test")
    assert gone["status"] == "destroyed", gone["message"]
    assert client.get(f"{BASE}/environments").json() == []
    assert [env["status"] for env in client.get(f"{BASE}/environments?all=true").json()] == [
        "destroyed"
    ]


def test_secrets_are_listed_by_name_and_refused_for_unknown_names(client: TestClient) -> None:
    assert client.put(f"{BASE}/environments/test/secrets/TOKEN", json={"value": SECRET}).is_success

    listed = client.get(f"{BASE}/environments/test/secrets")

    assert listed.json()["names"] == ["TOKEN"] and listed.json()["missing"] == ["BREAK"]
    assert SECRET not in listed.text
    unknown = client.put(f"{BASE}/environments/test/secrets/TOKN", json={"value": "x"})
    assert unknown.status_code == 400 and "did you mean 'TOKEN'" in unknown.text
    nowhere = client.put(f"{BASE}/environments/tset/secrets/TOKEN", json={"value": "x"})
    assert nowhere.status_code == 404 and "did you mean 'test'" in nowhere.text
    assert client.delete(f"{BASE}/environments/test/secrets/TOKEN").status_code == 204
    assert client.get(f"{BASE}/environments/test/secrets").json()["names"] == []


def test_a_protected_environment_asks_the_line_first(client: TestClient, tiny_service: Any) -> None:
    store = tiny_service.store
    # Trunk has never been green and someone pulled the cord: prod takes nothing new.
    store.pipelines.update(tiny_service.pipeline_id, status=PipelineStatus.FAILED)
    store.line.append(
        project="tiny",
        state=LineState.STOPPED,
        cause="manual",
        reason="freeze for the audit",
        actor="alice",
    )

    refused = client.post(
        f"{BASE}/environments", json={"name": "prod", "artifact": tiny_service.artifact}
    )

    assert refused.status_code == 409
    message = refused.json()["error"]["message"]
    assert "the line is stopped" in message and "freeze for the audit" in message
    assert "'prod' is protected" in message
    assert client.get(f"{BASE}/environments?all=true").json() == []


def test_the_reaper_destroys_an_expired_copy_and_the_drift_checker_records_drift(
    tiny_service: Any, lifecycle: EnvironmentLifecycle, fake: FakeRuntime
) -> None:
    store = tiny_service.store
    operations = EnvironmentOperations()
    reaper = EnvironmentReaper(store, lifecycle, operations)
    checker = DriftChecker(store, lifecycle, operations, interval=60)

    async def scenario() -> None:
        lifecycle.vault.set(load_spec(tiny_service.repo), "tiny", "test", "TOKEN", SECRET)
        order = lifecycle.compose(
            project="tiny", name="review-1", copy_from="test", ttl=timedelta(minutes=1)
        )
        lifecycle.begin(order)
        ready = await lifecycle.up(order)
        assert ready.status is EnvironmentStatus.READY, ready.message
        now = datetime.now(UTC)

        assert await reaper.tick(now) == []
        assert await checker.tick(now) == [("tiny", "review-1")]
        assert await checker.tick(now + timedelta(seconds=30)) == []
        fake.crash("tiny.review-1.web-1", loop=True)
        assert await checker.tick(now + timedelta(minutes=2)) == [("tiny", "review-1")]
        drift = store.environments.get("tiny", "review-1").drift
        assert [item["kind"] for item in drift] == ["instance_count", "instance"]

        assert await reaper.tick(now + timedelta(minutes=2)) == [("tiny", "review-1")]
        operation = operations.last("tiny", "review-1")
        assert operation is not None and operation.task is not None
        await operation.task

    asyncio.run(scenario())

    gone = store.environments.get("tiny", "review-1")
    assert gone.status is EnvironmentStatus.DESTROYED
    assert "tiny.review-1" not in fake.environments


def test_a_restarted_server_fails_what_it_was_creating(
    tiny_service: Any, lifecycle: EnvironmentLifecycle
) -> None:
    store = tiny_service.store
    store.environments.create(project="tiny", name="test", kind=EnvironmentKind.DECLARED)

    EnvironmentReaper(store, lifecycle, EnvironmentOperations()).recover()

    left = store.environments.get("tiny", "test")
    assert left.status is EnvironmentStatus.FAILED
    assert "'andon env down test' removes what was made" in left.message


def test_following_logs_sends_only_the_lines_that_are_new() -> None:
    assert new_lines([], ["a", "b"]) == ["a", "b"]
    assert new_lines(["a", "b", "c"], ["b", "c", "d"]) == ["d"]
    assert new_lines(["a", "b"], ["a", "b"]) == []
    assert new_lines(["a", "b"], ["x", "y"]) == ["x", "y"]
