"""Deploy events on SQLite and PostgreSQL: recording them, and reading them back oldest
first, by project, environment, time and kind, as the DORA metrics will."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from andon.store import DeployEventKind, DeployEventRecord, Store

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
