"""The lifecycle's decisions, with a fake runtime and everything else real (git, the
artifact store, SQLite, commands): what ``up`` makes and in which order, what a failure
undoes, what ``down`` removes, and what drift and diff see."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from andon.environments import (
    DriftKind,
    EnvironmentLifecycle,
    StepEvent,
    StepStatus,
    assess_difference,
    environment_dir,
)
from andon.errors import ConflictError, NotFoundError, UsageError
from andon.runtimes import FakeRuntime
from andon.spec import load_spec
from andon.store import EnvironmentKind, EnvironmentStatus

SECRET = "tok-3f9a-secret"


@pytest.fixture
def fake() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def lifecycle(tiny_service: Any, fake: FakeRuntime) -> Iterator[EnvironmentLifecycle]:
    yield EnvironmentLifecycle(
        tiny_service.store,
        tiny_service.settings,
        runtimes=lambda kind: fake,
        await_router=False,
        poll_interval=0.01,
    )


def up(lifecycle: EnvironmentLifecycle, name: str, **order: Any) -> tuple[Any, list[StepEvent]]:
    """``env up NAME`` through the engine; the final record and the steps it went through."""
    steps: list[StepEvent] = []
    composed = lifecycle.compose(project="tiny", name=name, **order)
    lifecycle.begin(composed)
    record = asyncio.run(lifecycle.up(composed, steps.append))
    return record, steps


def set_secret(
    lifecycle: EnvironmentLifecycle, tiny: Any, environment: str, name: str, value: str
) -> None:
    lifecycle.vault.set(load_spec(tiny.repo), "tiny", environment, name, value)


def done(steps: list[StepEvent]) -> list[str]:
    return [event.step for event in steps if event.status is not StepStatus.RUNNING]


def test_up_builds_step_by_step_and_down_leaves_nothing(
    lifecycle: EnvironmentLifecycle, fake: FakeRuntime, tiny_service: Any
) -> None:
    set_secret(lifecycle, tiny_service, "test", "TOKEN", SECRET)

    record, steps = up(lifecycle, "test")

    assert record.status is EnvironmentStatus.READY, record.message
    assert done(steps) == [
        "unpack",
        "database",
        "config",
        "migrate",
        "seed",
        "start",
        "health",
        "smoke",
    ]
    assert all(event.seconds is not None for event in steps if event.status is StepStatus.DONE)
    assert record.version == tiny_service.commit and record.artifact == tiny_service.artifact
    assert record.url == f"http://127.0.0.1:{record.router_port}"
    home = environment_dir(tiny_service.settings, "tiny", "test")
    (release,) = (home / "releases").iterdir()
    assert (release / "app.conf").read_text() == f"greeting = hello\ntoken = {SECRET}\n"
    migrate_log = (home / "logs" / "migrate.log").read_text()
    assert "migrating with token ***" in migrate_log and SECRET not in migrate_log
    environment = fake.environments["tiny.test"]
    assert (environment.listen_port, environment.routing) == (
        record.router_port,
        {"process": "web", "weights": {tiny_service.commit[:12]: 100}},
    )
    (instance,) = asyncio.run(fake.instances("tiny.test"))
    assert instance.id == "tiny.test.web-1" and instance.version == tiny_service.commit[:12]

    lifecycle.begin_down("tiny", "test")
    gone = asyncio.run(lifecycle.down("tiny", "test"))

    assert gone.status is EnvironmentStatus.DESTROYED
    assert "tiny.test" not in fake.environments
    assert ("stop_instance", "tiny.test.web-1") in fake.actions
    assert not home.exists()


def test_a_failing_migration_undoes_everything_and_leaves_the_record_failed(
    lifecycle: EnvironmentLifecycle, fake: FakeRuntime, tiny_service: Any
) -> None:
    # No TOKEN is set for this environment: its migration refuses to run.
    record, steps = up(lifecycle, "test")

    assert record.status is EnvironmentStatus.FAILED
    assert record.message.startswith("failed to run the migrations: the migrations exited with")
    assert "TOKEN is not set; refusing to migrate" in record.message
    assert done(steps)[-2:] == ["migrate", "undo"]
    assert [e.step for e in steps if e.status is StepStatus.FAILED] == ["migrate"]
    assert "tiny.test" not in fake.environments
    home = environment_dir(tiny_service.settings, "tiny", "test")
    assert not (home / "data").exists() and not (home / "releases").exists()
    assert (home / "logs" / "migrate.log").is_file()
    with pytest.raises(ConflictError, match="'andon env down test' removes what is left"):
        lifecycle.begin(lifecycle.compose(project="tiny", name="test"))

    lifecycle.begin_down("tiny", "test")
    assert asyncio.run(lifecycle.down("tiny", "test")).status is EnvironmentStatus.DESTROYED
    assert not home.exists()


def test_a_failing_smoke_test_stops_the_instances_it_started(
    lifecycle: EnvironmentLifecycle, fake: FakeRuntime, tiny_service: Any
) -> None:
    set_secret(lifecycle, tiny_service, "staging", "TOKEN", SECRET)
    set_secret(lifecycle, tiny_service, "staging", "BREAK", "yes")

    record, _ = up(lifecycle, "staging")

    assert record.status is EnvironmentStatus.FAILED
    assert "smoke test 'it answers' exited with code 1" in record.message
    assert "broken on purpose" in record.message
    started = [name for action, name in fake.actions if action == "start_instance"]
    assert started == ["tiny.staging.web-1", "tiny.staging.web-2"]
    assert {("stop_instance", name) for name in started} <= set(fake.actions)
    assert "tiny.staging" not in fake.environments


def test_an_unknown_environment_is_refused_with_a_did_you_mean(
    lifecycle: EnvironmentLifecycle,
) -> None:
    with pytest.raises(NotFoundError, match=r"'tset' \(did you mean 'test'\?\).*--from"):
        lifecycle.compose(project="tiny", name="tset")
    with pytest.raises(UsageError, match=r"test is declared in andon\.yaml"):
        lifecycle.compose(project="tiny", name="test", copy_from="staging")
    with pytest.raises(NotFoundError, match="did you mean 'test'"):
        lifecycle.get("tiny", "tests")


def test_an_ephemeral_copy_takes_its_sources_secrets_and_a_ttl(
    lifecycle: EnvironmentLifecycle, fake: FakeRuntime, tiny_service: Any
) -> None:
    set_secret(lifecycle, tiny_service, "test", "TOKEN", SECRET)

    record, _ = up(lifecycle, "review-1", copy_from="test", ttl=timedelta(minutes=5))

    assert record.status is EnvironmentStatus.READY, record.message
    assert record.kind is EnvironmentKind.EPHEMERAL and record.copied_from == "test"
    assert record.expires_at is not None
    lived = record.expires_at - record.created_at
    assert timedelta(minutes=4) < lived <= timedelta(minutes=5)
    default = lifecycle.compose(project="tiny", name="review-2", copy_from="test")
    assert default.expires_at is not None and default.kind is EnvironmentKind.EPHEMERAL


def test_drift_sees_a_hand_edited_config_and_a_crashed_instance(
    lifecycle: EnvironmentLifecycle, fake: FakeRuntime, tiny_service: Any
) -> None:
    set_secret(lifecycle, tiny_service, "test", "TOKEN", SECRET)
    up(lifecycle, "test")
    assert asyncio.run(lifecycle.check_drift("tiny", "test")) == []

    home = environment_dir(tiny_service.settings, "tiny", "test")
    (release,) = (home / "releases").iterdir()
    with (release / "app.conf").open("a") as config:
        config.write("greeting = changed by hand\n")
    fake.crash("tiny.test.web-1", loop=True)
    items = asyncio.run(lifecycle.check_drift("tiny", "test"))

    assert [(item.kind, item.subject) for item in items] == [
        (DriftKind.CONFIG, "app.conf"),
        (DriftKind.INSTANCE_COUNT, "web"),
        (DriftKind.INSTANCE, "web-1"),
    ]
    assert items[0].message.startswith("app.conf was changed by hand")
    stored = tiny_service.store.environments.get("tiny", "test")
    assert [item["kind"] for item in stored.drift] == ["config", "instance_count", "instance"]
    assert stored.drift_checked_at is not None


def test_diff_names_values_and_secrets_but_never_a_secret_value(
    lifecycle: EnvironmentLifecycle, tiny_service: Any
) -> None:
    set_secret(lifecycle, tiny_service, "test", "TOKEN", SECRET)
    set_secret(lifecycle, tiny_service, "staging", "TOKEN", "another-token")
    test, _ = up(lifecycle, "test")
    staging, _ = up(lifecycle, "staging")

    differences = assess_difference(
        asyncio.run(lifecycle.snapshot(test)), asyncio.run(lifecycle.snapshot(staging))
    )

    assert [(d.kind.value, d.subject, d.left, d.right) for d in differences] == [
        ("value", "greeting", "hello", "hi"),
        ("secret", "TOKEN", "set", "set"),
        ("instances", "web", 1, 2),
    ]
    shown = repr([d.to_dict() for d in differences])
    assert SECRET not in shown and "another-token" not in shown


def test_destroying_is_refused_twice_and_cleans_a_record_without_an_artifact(
    lifecycle: EnvironmentLifecycle, tiny_service: Any
) -> None:
    tiny_service.store.environments.create(
        project="tiny", name="test", kind=EnvironmentKind.DECLARED
    )
    lifecycle.begin_down("tiny", "test")
    assert asyncio.run(lifecycle.down("tiny", "test")).status is EnvironmentStatus.DESTROYED
    with pytest.raises(ConflictError, match="destroyed already"):
        lifecycle.begin_down("tiny", "test")
