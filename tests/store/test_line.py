"""The line's event log on SQLite and PostgreSQL: appending, the current state, history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from andon.store import LineEventRecord, LineState, Store

FAILING: dict[str, Any] = {
    "failing_jobs": ["unit[1/2]"],
    "failing_tests": ["tests/test_cart.py::test_total"],
}


def stop(store: Store, project: str = "shop", **changes: Any) -> LineEventRecord:
    fields: dict[str, Any] = {
        "project": project,
        "state": LineState.STOPPED,
        "cause": "pipeline",
        "reason": "trunk is red: pipeline #4 for commit aaaaaaaaaaaa: unit[1/2] failed",
        "actor": "andon",
        "commit": "a" * 40,
        "pipeline_id": 4,
        "details": FAILING,
    }
    fields.update(changes)
    return store.line.append(**fields)


def resume(store: Store, project: str = "shop", **changes: Any) -> LineEventRecord:
    fields: dict[str, Any] = {
        "project": project,
        "state": LineState.RUNNING,
        "cause": "manual",
        "reason": "resumed by ada",
        "actor": "ada",
    }
    fields.update(changes)
    return store.line.append(**fields)


def test_a_project_without_events_has_no_current_event_and_no_history(store: Store) -> None:
    assert store.line.current("shop") is None
    assert store.line.history("shop") == []


def test_an_appended_event_reads_back_as_the_current_one(store: Store, clock: Any) -> None:
    appended = stop(store)

    assert appended.state is LineState.STOPPED
    assert appended.at == clock.now
    assert appended.details == FAILING
    assert store.line.current("shop") == appended


def test_an_event_without_details_or_commit_keeps_empty_details_and_nones(
    store: Store,
) -> None:
    appended = resume(store)

    assert (appended.details, appended.commit, appended.pipeline_id) == ({}, None, None)
    assert store.line.current("shop") == appended


def test_a_given_time_is_kept_in_utc(store: Store) -> None:
    at = datetime(2024, 5, 1, 16, 30, tzinfo=timezone(timedelta(hours=2)))

    appended = stop(store, at=at)

    assert appended.at == datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
    assert store.line.current("shop") == appended


def test_a_naive_given_time_is_refused_and_appends_nothing(store: Store) -> None:
    with pytest.raises(ValueError, match="at must be a timezone-aware"):
        stop(store, at=datetime(2024, 5, 1, 12, 0))

    assert store.line.current("shop") is None


def test_the_current_event_is_the_last_appended_even_with_an_earlier_time(
    store: Store, clock: Any
) -> None:
    stop(store)
    last = resume(store, at=clock.now - timedelta(hours=1))

    assert store.line.current("shop") == last


def test_history_is_newest_first_per_project_and_limited(store: Store, clock: Any) -> None:
    first = stop(store)
    clock.advance(minutes=1)
    stop(store, "web")
    second = resume(store)
    clock.advance(minutes=1)
    third = stop(store, cause="manual", actor="ada", reason="db migration in progress")

    assert store.line.history("shop") == [third, second, first]
    assert store.line.history("shop", limit=2) == [third, second]
    assert [event.project for event in store.line.history("web")] == ["web"]


def test_to_dict_gives_json_values_with_utc_timestamps(store: Store) -> None:
    record = stop(store)

    as_dict = record.to_dict()

    assert as_dict == {
        "id": record.id,
        "project": "shop",
        "state": "stopped",
        "cause": "pipeline",
        "reason": "trunk is red: pipeline #4 for commit aaaaaaaaaaaa: unit[1/2] failed",
        "actor": "andon",
        "commit": "a" * 40,
        "pipeline_id": 4,
        "details": FAILING,
        "at": "2024-05-01T12:00:00.123456Z",
    }
    assert json.loads(json.dumps(as_dict)) == as_dict
    as_dict["details"]["failing_jobs"].clear()
    assert record.details == FAILING
