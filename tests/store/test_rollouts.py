"""Rollouts on SQLite and PostgreSQL: creating, reading and updating them, the deploy lock
(also under concurrent writers), the engine's state kept as given, the queries the
reconciler and undo make, and the 0004 migration."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text

from andon.errors import ConflictError, NotFoundError, UsageError
from andon.store import RolloutRecord, RolloutStatus, Store, open_store
from andon.store._engine import create_store_engine
from andon.store._migrating import (
    alembic_config,
    current_revision,
    head_revision,
    migrating_connection,
)
from andon.store._urls import parse_url

OLD = "sha256:" + "aa" * 32
NEW = "sha256:" + "bb" * 32
LOCKED = (
    r"environment prod of shop has a rollout in progress \(#{id}, {status}\); wait for it, "
    r"or abort it with 'andon rollout abort prod'\."
)


def create(
    store: Store,
    environment: str = "prod",
    *,
    status: RolloutStatus = RolloutStatus.QUEUED,
    **changes: Any,
) -> RolloutRecord:
    fields: dict[str, Any] = {
        "project": "shop",
        "environment": environment,
        "strategy": "canary",
        "from_version": "v1",
        "from_artifact": OLD,
        "to_version": "v2",
        "to_artifact": NEW,
        "commits": ["c" * 40, "d" * 40],
        "state": {"phase": "pending", "step_index": 0},
        "created_by": "ada",
        "status": status,
    }
    fields.update(changes)
    return store.rollouts.create(**fields)


def finish(store: Store, rollout: RolloutRecord, status: RolloutStatus) -> RolloutRecord:
    return store.rollouts.update(rollout.id, status=status)


def test_a_new_rollout_is_queued_with_what_it_was_given(store: Store, clock: Any) -> None:
    record = create(store)

    assert record.status is RolloutStatus.QUEUED
    assert (record.project, record.environment, record.strategy) == ("shop", "prod", "canary")
    assert (record.from_version, record.from_artifact) == ("v1", OLD)
    assert (record.to_version, record.to_artifact) == ("v2", NEW)
    assert record.commits == ["c" * 40, "d" * 40]
    assert record.state == {"phase": "pending", "step_index": 0}
    assert (record.message, record.created_by) == ("", "ada")
    assert (record.created_at, record.updated_at) == (clock.now, clock.now)
    assert (record.started_at, record.finished_at) == (None, None)
    assert store.rollouts.get(record.id) == record


def test_a_first_deploy_has_no_release_to_come_from(store: Store) -> None:
    record = create(store, from_version=None, from_artifact=None, commits=[])

    assert (record.from_version, record.from_artifact, record.commits) == (None, None, [])


def test_a_rollout_created_running_started_when_it_was_created(store: Store, clock: Any) -> None:
    record = create(store, status=RolloutStatus.RUNNING, message="starting v2")

    assert record.status is RolloutStatus.RUNNING
    assert record.started_at == clock.now
    assert record.message == "starting v2"


@pytest.mark.parametrize("status", [RolloutStatus.PAUSED, RolloutStatus.SUCCEEDED])
def test_a_rollout_starts_queued_or_running_only(store: Store, status: RolloutStatus) -> None:
    with pytest.raises(ValueError, match=f"starts queued or running, not {status.value}"):
        create(store, status=status)

    assert store.rollouts.list() == []


def test_ids_rise(store: Store) -> None:
    first = create(store)
    second = create(store, "staging")

    assert second.id > first.id


def test_a_missing_rollout_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match=r"no rollout #99; 'andon rollout list' shows"):
        store.rollouts.get(99)
    with pytest.raises(NotFoundError, match=r"no rollout #99"):
        store.rollouts.update(99, status=RolloutStatus.RUNNING)
    with pytest.raises(NotFoundError, match=r"no rollout #99"):
        store.rollouts.update(99, message="ignored")


# The deploy lock.


@pytest.mark.parametrize("holder", [RolloutStatus.RUNNING, RolloutStatus.PAUSED])
def test_a_running_or_paused_rollout_holds_the_deploy_lock(
    store: Store, holder: RolloutStatus
) -> None:
    first = create(store, status=RolloutStatus.RUNNING)
    store.rollouts.update(first.id, status=holder)

    with pytest.raises(ConflictError, match=LOCKED.format(id=first.id, status=holder.value)):
        create(store, status=RolloutStatus.RUNNING)

    assert [r.id for r in store.rollouts.list()] == [first.id]


def test_the_lock_is_per_environment_of_each_project(store: Store) -> None:
    create(store, status=RolloutStatus.RUNNING)

    create(store, "staging", status=RolloutStatus.RUNNING)
    create(store, project="web", status=RolloutStatus.RUNNING)

    assert len(store.rollouts.unfinished()) == 3


def test_queued_rollouts_do_not_take_the_lock(store: Store) -> None:
    queued = [create(store) for _ in range(3)]

    running = create(store, status=RolloutStatus.RUNNING)

    assert store.rollouts.active("shop", "prod") == running
    assert store.rollouts.next_queued("shop", "prod") == queued[0]


def test_a_queued_rollout_cannot_start_while_another_holds_the_lock(store: Store) -> None:
    running = create(store, status=RolloutStatus.RUNNING)
    queued = create(store)

    for status in (RolloutStatus.RUNNING, RolloutStatus.PAUSED):
        with pytest.raises(ConflictError, match=LOCKED.format(id=running.id, status="running")):
            store.rollouts.update(queued.id, status=status, message="starting")

    assert store.rollouts.get(queued.id) == queued


def test_the_holder_moves_between_running_and_paused(store: Store) -> None:
    running = create(store, status=RolloutStatus.RUNNING)

    paused = store.rollouts.update(running.id, status=RolloutStatus.PAUSED)
    resumed = store.rollouts.update(running.id, status=RolloutStatus.RUNNING)

    assert (paused.status, resumed.status) == (RolloutStatus.PAUSED, RolloutStatus.RUNNING)


@pytest.mark.parametrize("status", [s for s in RolloutStatus if s.finished])
def test_a_finished_rollout_frees_the_lock(store: Store, status: RolloutStatus) -> None:
    first = create(store, status=RolloutStatus.RUNNING)
    queued = create(store)
    finish(store, first, status)

    started = store.rollouts.update(queued.id, status=RolloutStatus.RUNNING)

    assert store.rollouts.active("shop", "prod") == started


def race(writers: list[Callable[[], RolloutRecord]]) -> tuple[list[RolloutRecord], list[str]]:
    """Run the writers at once, each on its own thread; what they returned and the
    messages of the conflicts they raised."""
    start = threading.Barrier(len(writers))
    won: list[RolloutRecord] = []
    lost: list[str] = []
    others: list[BaseException] = []

    def run(writer: Callable[[], RolloutRecord]) -> None:
        start.wait()
        try:
            won.append(writer())
        except ConflictError as exc:
            lost.append(str(exc))
        except BaseException as exc:
            others.append(exc)

    threads = [threading.Thread(target=run, args=(writer,)) for writer in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert others == []
    return won, lost


def test_of_two_rollouts_started_at_once_one_runs_and_the_other_conflicts(store: Store) -> None:
    for environment in ("prod", "staging", "test"):

        def start(environment: str = environment) -> RolloutRecord:
            return create(store, environment, status=RolloutStatus.RUNNING)

        won, lost = race([start, start])

        assert len(won) == 1
        assert len(lost) == 1
        assert f"(#{won[0].id}, running)" in lost[0]
        assert store.rollouts.active("shop", environment) == won[0]


def test_of_two_queued_rollouts_started_at_once_one_takes_the_lock(store: Store) -> None:
    queued = [create(store), create(store)]

    won, lost = race(
        [partial(store.rollouts.update, r.id, status=RolloutStatus.RUNNING) for r in queued]
    )

    assert len(won) == len(lost) == 1
    assert store.rollouts.active("shop", "prod") == won[0]
    assert [r.status for r in store.rollouts.list()].count(RolloutStatus.QUEUED) == 1


# The engine's state and updates.


def test_the_engines_state_comes_back_exactly_as_given(store: Store) -> None:
    state = {
        "phase": "progressing",
        "zeta": 1,
        "alpha": [1, 2.5, None, True, "", {"deep": {"deeper": ["x"]}}],
        "decisions": [{"sentence": "rolled back: canary error rate 4.1% vs stable 0.2% — ✗"}],
        "notes": 'Zürich 東京 🚀 "quoted" \\ back\nslash',
        "empty": {},
    }

    record = create(store, state=state)
    updated = store.rollouts.update(record.id, state={**state, "phase": "baking"})

    assert record.state == state
    assert list(record.state) == list(state)
    assert store.rollouts.get(record.id).state == updated.state == {**state, "phase": "baking"}
    assert list(updated.state) == list(state)


def test_an_update_changes_only_the_given_fields(store: Store, clock: Any) -> None:
    record = create(store, status=RolloutStatus.RUNNING)
    clock.advance(minutes=5)

    updated = store.rollouts.update(record.id, message="canary at 10%")

    assert updated.message == "canary at 10%"
    assert updated.updated_at == clock.now
    assert updated.state == record.state
    assert (updated.status, updated.started_at) == (record.status, record.started_at)
    assert store.rollouts.get(record.id) == updated


def test_an_update_records_the_end_and_can_clear_a_time(store: Store, clock: Any) -> None:
    record = create(store)
    started = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))

    running = store.rollouts.update(record.id, status=RolloutStatus.RUNNING, started_at=started)
    finished = store.rollouts.update(
        record.id, status=RolloutStatus.SUCCEEDED, finished_at=clock.advance(minutes=30)
    )
    cleared = store.rollouts.update(record.id, finished_at=None)

    assert running.started_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert finished.finished_at == clock.now
    assert finished.status is RolloutStatus.SUCCEEDED
    assert cleared.finished_at is None


def test_an_update_refuses_a_naive_time(store: Store) -> None:
    record = create(store)

    with pytest.raises(ValueError, match="started_at must be a timezone-aware"):
        store.rollouts.update(record.id, started_at=datetime(2024, 5, 1, 12, 0))


# Queries.


def test_active_and_next_queued_are_none_without_rollouts(store: Store) -> None:
    create(store, "staging", status=RolloutStatus.RUNNING)

    assert store.rollouts.active("shop", "prod") is None
    assert store.rollouts.next_queued("shop", "prod") is None
    assert store.rollouts.next_queued("shop", "staging") is None


def test_rollouts_are_listed_newest_first_by_project_and_environment(store: Store) -> None:
    first = create(store)
    second = create(store, "staging")
    third = create(store, project="web")
    fourth = create(store)

    assert store.rollouts.list() == [fourth, third, second, first]
    assert store.rollouts.list("shop") == [fourth, second, first]
    assert store.rollouts.list("shop", "prod") == [fourth, first]
    assert store.rollouts.list(environment="prod") == [fourth, third, first]
    assert store.rollouts.list(limit=2) == [fourth, third]
    with pytest.raises(UsageError, match="at least 1"):
        store.rollouts.list(limit=0)


def test_history_holds_the_finished_rollouts_of_an_environment_newest_first(
    store: Store,
) -> None:
    first = finish(store, create(store, status=RolloutStatus.RUNNING), RolloutStatus.SUCCEEDED)
    second = finish(store, create(store, status=RolloutStatus.RUNNING), RolloutStatus.FAILED)
    create(store, status=RolloutStatus.RUNNING)
    create(store)
    finish(store, create(store, "staging"), RolloutStatus.ABORTED)

    assert store.rollouts.history("shop", "prod") == [second, first]
    assert store.rollouts.history("shop", "prod", limit=1) == [second]


def test_unfinished_rollouts_are_every_queued_running_or_paused_one_oldest_first(
    store: Store,
) -> None:
    running = create(store, status=RolloutStatus.RUNNING)
    queued = create(store)
    paused = store.rollouts.update(
        create(store, "staging", status=RolloutStatus.RUNNING).id, status=RolloutStatus.PAUSED
    )
    finish(store, create(store, project="web", status=RolloutStatus.RUNNING), RolloutStatus.FAILED)
    other = create(store, project="web")

    assert store.rollouts.unfinished() == [running, queued, paused, other]


def test_the_last_succeeded_rollout_is_the_last_good_release(store: Store) -> None:
    assert store.rollouts.last_succeeded("shop", "prod") is None

    finish(store, create(store, status=RolloutStatus.RUNNING), RolloutStatus.SUCCEEDED)
    good = finish(
        store, create(store, status=RolloutStatus.RUNNING, to_version="v3"), RolloutStatus.SUCCEEDED
    )
    finish(store, create(store, status=RolloutStatus.RUNNING), RolloutStatus.ROLLED_BACK)
    create(store, status=RolloutStatus.RUNNING)
    finish(store, create(store, "staging", status=RolloutStatus.RUNNING), RolloutStatus.SUCCEEDED)

    assert store.rollouts.last_succeeded("shop", "prod") == good


def test_statuses_say_whether_they_hold_the_lock_and_whether_they_are_final() -> None:
    assert {s for s in RolloutStatus if s.active} == {RolloutStatus.RUNNING, RolloutStatus.PAUSED}
    assert {s for s in RolloutStatus if not s.finished} == {
        RolloutStatus.QUEUED,
        RolloutStatus.RUNNING,
        RolloutStatus.PAUSED,
    }


def test_a_record_as_a_dict_is_json_with_utc_times(store: Store) -> None:
    record = create(store, status=RolloutStatus.RUNNING, state={"nested": {"list": [1]}})

    as_dict = record.to_dict()
    as_dict["state"]["nested"]["list"].append(2)
    as_dict["commits"].append("e" * 40)

    assert as_dict["status"] == "running"
    assert as_dict["created_at"] == as_dict["started_at"] == "2024-05-01T12:00:00.123456Z"
    assert as_dict["finished_at"] is None
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert record.state == {"nested": {"list": [1]}}
    assert len(record.commits) == 2


# The schema.


def test_the_deploy_lock_is_a_partial_unique_index(store: Store) -> None:
    indexes = {i["name"]: i for i in inspect(store.engine).get_indexes("rollouts")}

    lock = indexes["ix_rollouts_deploy_lock"]
    assert (lock["column_names"], lock["unique"]) == (["project", "environment"], True)
    assert indexes["ix_rollouts_project_environment_id"]["column_names"] == [
        "project",
        "environment",
        "id",
    ]
    with store.engine.connect() as connection:
        if store.dialect == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE name = 'ix_rollouts_deploy_lock'"
        else:
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_rollouts_deploy_lock'"
        definition = connection.execute(text(query)).scalar_one()
    assert "running" in definition
    assert "paused" in definition
    assert "queued" not in definition


def test_downgrading_to_0003_drops_the_rollout_tables(database_url: str) -> None:
    with open_store(database_url) as store:
        assert store.schema_revision() == head_revision()
        create(store, status=RolloutStatus.RUNNING)
    engine = create_store_engine(parse_url(database_url))
    try:
        with migrating_connection(engine) as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")

        assert current_revision(engine) == "0003"
        tables = set(inspect(engine).get_table_names())
        assert {"rollouts", "deploy_events"}.isdisjoint(tables)
        assert "environments" in tables
    finally:
        engine.dispose()

    with open_store(database_url) as store:
        assert store.rollouts.list() == []
        assert store.deploy_events.list() == []
