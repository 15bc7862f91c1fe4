"""Deploy events on SQLite and PostgreSQL: recording them with when their commits landed,
and reading them back oldest first, by project, environment, time and kind, as the DORA
metrics do."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from andon.store import DeployEventKind, DeployEventRecord, Store, open_store
from andon.store._engine import create_store_engine
from andon.store._migrating import alembic_config, migrating_connection
from andon.store._urls import parse_url

ARTIFACT = "sha256:" + "bb" * 32


def record(store: Store, kind: DeployEventKind, **changes: Any) -> DeployEventRecord:
    fields: dict[str, Any] = {
        "project": "shop",
        "environment": "prod",
        "kind": kind,
        "version": "v2",
        "artifact": ARTIFACT,
    }
    fields.update(changes)
    return store.deploy_events.record(**fields)


def test_an_event_is_recorded_now_unless_given_a_time(store: Store, clock: Any) -> None:
    now = record(store, DeployEventKind.STARTED)
    given = record(
        store,
        DeployEventKind.FINISHED,
        at=datetime(2024, 5, 1, 16, 0, tzinfo=timezone(timedelta(hours=2))),
        commits=["c" * 40, "d" * 40],
        message="finished: v2 serves all traffic",
        rollout_id=7,
    )

    assert (now.at, now.commits, now.message, now.rollout_id) == (clock.now, [], "", None)
    assert now.kind is DeployEventKind.STARTED
    assert given.at == datetime(2024, 5, 1, 14, 0, tzinfo=UTC)
    assert given.commits == ["c" * 40, "d" * 40]
    assert (given.message, given.rollout_id) == ("finished: v2 serves all traffic", 7)
    assert store.deploy_events.list() == [now, given]


def test_a_naive_time_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="at must be a timezone-aware"):
        record(store, DeployEventKind.STARTED, at=datetime(2024, 5, 1, 12, 0))


def test_events_are_listed_oldest_first_by_their_time_then_as_recorded(
    store: Store, clock: Any
) -> None:
    later = record(store, DeployEventKind.FINISHED, at=clock.now + timedelta(hours=1))
    earlier = record(store, DeployEventKind.STARTED, at=clock.now - timedelta(hours=1))
    first_now = record(store, DeployEventKind.PAUSED)
    second_now = record(store, DeployEventKind.RESUMED)

    assert store.deploy_events.list() == [earlier, first_now, second_now, later]


def test_events_are_filtered_by_project_environment_time_and_kind(store: Store, clock: Any) -> None:
    old = record(store, DeployEventKind.STARTED, at=clock.now - timedelta(days=2))
    failed = record(store, DeployEventKind.FAILED)
    staging = record(store, DeployEventKind.FINISHED, environment="staging")
    web = record(store, DeployEventKind.FINISHED, project="web")
    events = store.deploy_events

    assert events.list("shop") == [old, failed, staging]
    assert events.list("shop", "prod") == [old, failed]
    assert events.list(environment="staging") == [staging]
    assert events.list(since=clock.now) == [failed, staging, web]
    assert events.list(since=clock.now - timedelta(days=2)) == [old, failed, staging, web]
    assert events.list(kinds=[DeployEventKind.FINISHED]) == [staging, web]
    assert events.list(
        "shop", kinds=[DeployEventKind.FAILED, DeployEventKind.STARTED], since=old.at
    ) == [old, failed]
    assert events.list(kinds=[]) == []


def test_an_event_as_a_dict_is_json_with_utc_times(store: Store) -> None:
    event = record(store, DeployEventKind.ROLLED_BACK, commits=["c" * 40], rollout_id=3)

    as_dict = event.to_dict()

    assert as_dict["kind"] == "rolled_back"
    assert as_dict["at"] == "2024-05-01T12:00:00.123456Z"
    assert (as_dict["rollout_id"], as_dict["commits"]) == (3, ["c" * 40])
    assert json.loads(json.dumps(as_dict)) == as_dict


def test_an_event_keeps_when_its_commits_landed_in_utc(store: Store) -> None:
    landed = datetime(2024, 5, 1, 13, 30, tzinfo=timezone(timedelta(hours=2)))

    event = record(
        store, DeployEventKind.STARTED, commits=["c" * 40], commit_times={"c" * 40: landed}
    )

    assert event.commit_times == {"c" * 40: datetime(2024, 5, 1, 11, 30, tzinfo=UTC)}
    assert store.deploy_events.list()[0].commit_times == event.commit_times
    assert event.to_dict()["commit_times"] == {"c" * 40: "2024-05-01T11:30:00Z"}
    assert record(store, DeployEventKind.FINISHED).commit_times == {}


def test_upgrading_from_0006_gives_older_events_no_commit_times(database_url: str) -> None:
    engine = create_store_engine(parse_url(database_url))
    try:
        with migrating_connection(engine) as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0006")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO deploy_events (project, environment, kind, at, version, "
                    "artifact, commits, message) VALUES ('shop', 'prod', 'started', "
                    "'2024-05-01 12:00:00', 'v1', 'sha256:x', '[\"c\"]', '')"
                )
            )
    finally:
        engine.dispose()

    with open_store(database_url) as store:
        (event,) = store.deploy_events.list()

    assert (event.commits, event.commit_times) == (["c"], {})
