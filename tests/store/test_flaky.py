"""Flaky tests on SQLite and PostgreSQL: recording them and the summary per test and job."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from andon.store import FlakySummary, FlakyTestRecord, Store

DISCOUNT = "tests/test_cart.py::test_discount"
TOTAL = "tests/test_cart.py::test_total"


def record(store: Store, test: str = DISCOUNT, **changes: Any) -> FlakyTestRecord:
    fields: dict[str, Any] = {
        "project": "shop",
        "test": test,
        "job": "unit",
        "commit": "a" * 40,
        "pipeline_id": 1,
    }
    fields.update(changes)
    return store.flaky.record(**fields)


def test_a_recorded_flaky_test_is_stamped_now_unless_a_time_is_given(
    store: Store, clock: Any
) -> None:
    now = record(store)
    given = record(store, at=datetime(2024, 4, 1, 8, 0, tzinfo=UTC))

    assert now.at == clock.now
    assert given.at == datetime(2024, 4, 1, 8, 0, tzinfo=UTC)
    assert (now.project, now.test, now.job, now.commit, now.pipeline_id) == (
        "shop",
        DISCOUNT,
        "unit",
        "a" * 40,
        1,
    )


def test_the_summary_counts_per_test_and_job_most_flaky_first(store: Store, clock: Any) -> None:
    record(store, TOTAL, commit="a" * 40)
    clock.advance(minutes=1)
    record(store, DISCOUNT, commit="a" * 40)
    clock.advance(minutes=1)
    record(store, DISCOUNT, commit="b" * 40, pipeline_id=2)
    last = clock.advance(minutes=1)
    record(store, DISCOUNT, commit="b" * 40, pipeline_id=3)
    record(store, DISCOUNT, job="e2e")

    assert store.flaky.summary("shop") == [
        FlakySummary("shop", DISCOUNT, "unit", 3, last, ("b" * 40, "a" * 40)),
        FlakySummary("shop", DISCOUNT, "e2e", 1, last, ("a" * 40,)),
        FlakySummary("shop", TOTAL, "unit", 1, clock.now - timedelta(minutes=3), ("a" * 40,)),
    ]


def test_equal_counts_are_ordered_by_test_name(store: Store) -> None:
    for test in ["tests/test_z.py::test_b", "tests/test_a.py::test_b", "tests/test_m.py::t"]:
        record(store, test)

    assert [s.test for s in store.flaky.summary()] == [
        "tests/test_a.py::test_b",
        "tests/test_m.py::t",
        "tests/test_z.py::test_b",
    ]


def test_the_summary_window_counts_only_records_since_the_given_time(
    store: Store, clock: Any
) -> None:
    record(store, at=clock.now - timedelta(days=30))
    record(store, at=clock.now - timedelta(days=7))
    record(store, TOTAL, at=clock.now - timedelta(days=8))
    record(store)

    summary = store.flaky.summary("shop", since=clock.now - timedelta(days=7))

    assert [(s.test, s.count) for s in summary] == [(DISCOUNT, 2)]
    assert [(s.test, s.count) for s in store.flaky.summary("shop")] == [(DISCOUNT, 3), (TOTAL, 1)]


def test_the_summary_keeps_projects_apart(store: Store) -> None:
    record(store)
    record(store, project="web")
    record(store, project="web")

    assert [(s.project, s.count) for s in store.flaky.summary()] == [("web", 2), ("shop", 1)]
    assert [(s.project, s.count) for s in store.flaky.summary("shop")] == [("shop", 1)]
    assert store.flaky.summary("billing") == []


def test_a_naive_window_start_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="since must be a timezone-aware"):
        store.flaky.summary(since=datetime(2024, 5, 1))


def test_to_dict_gives_json_values_with_utc_timestamps(store: Store) -> None:
    recorded = record(store)
    summary = store.flaky.summary()[0]

    assert recorded.to_dict() == {
        "id": recorded.id,
        "project": "shop",
        "test": DISCOUNT,
        "job": "unit",
        "commit": "a" * 40,
        "pipeline_id": 1,
        "at": "2024-05-01T12:00:00.123456Z",
    }
    assert summary.to_dict() == {
        "project": "shop",
        "test": DISCOUNT,
        "job": "unit",
        "count": 1,
        "last_seen": "2024-05-01T12:00:00.123456Z",
        "commits": ["a" * 40],
    }
    assert json.loads(json.dumps(summary.to_dict())) == summary.to_dict()
