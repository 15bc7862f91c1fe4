"""ProjectRepository on SQLite and PostgreSQL: round trips, conflicts, time and JSON."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from andon.errors import ConflictError, NotFoundError, UsageError
from andon.store import ProjectRecord, Store, metadata

SHOP_SPEC: dict[str, Any] = {
    "service": "shop",
    "build": {"command": "make build", "env": {"PYTHONHASHSEED": "0"}},
    "environments": {
        "staging": {"strategy": "rolling", "replicas": 2},
        "prod": {"strategy": "canary", "steps": [5, 25, 50, 100], "approval": True},
    },
    "flags": [],
    "notes": None,
    "threshold": 0.015,
    "owner": "équipe café ☕",
}


def add_shop(store: Store, name: str = "shop", **changes: Any) -> ProjectRecord:
    fields: dict[str, Any] = {
        "name": name,
        "source": "https://git.example.com/acme/shop.git",
        "subdir": "",
        "trunk": "main",
        "service": "shop",
        "commit": "3f2c1a9e" * 5,
        "spec": SHOP_SPEC,
    }
    fields.update(changes)
    return store.projects.add(**fields)


def count_projects(store: Store) -> int:
    with store.engine.connect() as connection:
        count: int = connection.execute(
            select(func.count()).select_from(metadata.tables["projects"])
        ).scalar_one()
    return count


def test_an_added_project_reads_back_the_same_by_name_and_in_the_list(store: Store) -> None:
    added = add_shop(store, subdir="services/shop")

    assert added.name == "shop"
    assert added.subdir == "services/shop"
    assert store.projects.get("shop") == added
    assert store.projects.list() == [added]


def test_the_list_is_ordered_by_name(store: Store) -> None:
    for name in ["web", "Api", "shop", "billing"]:
        add_shop(store, name)

    assert [project.name for project in store.projects.list()] == [
        "Api",
        "billing",
        "shop",
        "web",
    ]


def test_an_empty_store_lists_no_projects(store: Store) -> None:
    assert store.projects.list() == []


def test_adding_a_duplicate_name_is_a_conflict_and_keeps_one_row(store: Store) -> None:
    original = add_shop(store)

    with pytest.raises(ConflictError, match="a project named 'shop' exists already") as caught:
        add_shop(store, source="/elsewhere", commit="0" * 40)

    assert "remove it first" in str(caught.value)
    assert count_projects(store) == 1
    assert store.projects.get("shop") == original


def test_concurrent_adds_of_one_name_leave_one_project_and_conflicts(store: Store) -> None:
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def add_concurrently(source: str) -> None:
        start.wait()
        try:
            add_shop(store, source=source)
            outcomes.append("added")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=add_concurrently, args=(f"/src/{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["added"] + ["conflict"] * 5
    assert count_projects(store) == 1


def test_the_store_keeps_working_after_a_conflict(store: Store) -> None:
    add_shop(store)
    with pytest.raises(ConflictError):
        add_shop(store)

    assert add_shop(store, "web").name == "web"
    assert count_projects(store) == 2


def test_getting_an_unknown_project_is_not_found_and_says_how_to_list(store: Store) -> None:
    with pytest.raises(NotFoundError) as caught:
        store.projects.get("ghost")

    assert str(caught.value) == (
        "no project named 'ghost'; 'andon project list' shows the registered ones."
    )


def test_updating_the_spec_replaces_commit_spec_and_service_only(store: Store) -> None:
    original = add_shop(store)
    new_spec = {"service": "shop-v2", "environments": {"prod": {"strategy": "blue-green"}}}

    updated = store.projects.update_spec("shop", commit="b" * 40, spec=new_spec, service="shop-v2")

    assert updated.commit == "b" * 40
    assert updated.spec == new_spec
    assert updated.service == "shop-v2"
    assert (updated.id, updated.source, updated.subdir, updated.trunk) == (
        original.id,
        original.source,
        original.subdir,
        original.trunk,
    )
    assert store.projects.get("shop") == updated


def test_updating_an_unknown_project_is_not_found_and_adds_nothing(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no project named 'ghost'"):
        store.projects.update_spec("ghost", commit="c" * 40, spec={}, service="ghost")

    assert count_projects(store) == 0


def test_a_removed_project_is_gone_and_its_name_is_free_again(store: Store) -> None:
    add_shop(store)
    add_shop(store, "web")

    store.projects.remove("shop")

    assert [project.name for project in store.projects.list()] == ["web"]
    with pytest.raises(NotFoundError):
        store.projects.get("shop")
    assert add_shop(store).name == "shop"


def test_removing_an_unknown_project_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no project named 'ghost'"):
        store.projects.remove("ghost")


def test_timestamps_come_from_the_injected_clock_as_aware_utc(store: Store, clock: Any) -> None:
    created = clock.now
    added = add_shop(store)
    assert added.created_at == added.updated_at == created

    later = clock.advance(minutes=5, microseconds=7)
    updated = store.projects.update_spec("shop", commit="d" * 40, spec={}, service="shop")

    for record in (updated, store.projects.get("shop")):
        assert record.created_at == created
        assert record.updated_at == later
        assert record.created_at.tzinfo is not None
        assert record.updated_at.utcoffset() == timedelta(0)


def test_a_clock_in_another_zone_is_stored_as_the_same_instant_in_utc(
    store: Store, clock: Any
) -> None:
    clock.now = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))

    record = store.projects.get(add_shop(store).name)

    assert record.created_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert record.created_at.tzinfo is UTC


def test_a_naive_clock_is_refused_before_anything_is_written(store: Store, clock: Any) -> None:
    clock.now = datetime(2024, 5, 1, 12, 0)

    with pytest.raises(ValueError, match="timezone-aware"):
        add_shop(store)

    assert count_projects(store) == 0


def test_the_spec_round_trips_nested_json_in_key_order(store: Store) -> None:
    record = store.projects.get(add_shop(store).name)

    assert record.spec == SHOP_SPEC
    assert list(record.spec) == list(SHOP_SPEC)
    assert list(record.spec["environments"]["prod"]) == ["strategy", "steps", "approval"]


def test_a_name_longer_than_the_column_is_refused_on_every_backend(store: Store) -> None:
    with pytest.raises(UsageError, match="1 to 100 characters"):
        add_shop(store, "x" * 101)

    assert add_shop(store, "x" * 100).name == "x" * 100


def test_to_dict_gives_json_values_with_utc_timestamps(store: Store) -> None:
    record = add_shop(store)

    as_dict = record.to_dict()

    assert as_dict["created_at"] == "2024-05-01T12:00:00.123456Z"
    assert as_dict["updated_at"] == "2024-05-01T12:00:00.123456Z"
    assert as_dict["spec"] == SHOP_SPEC
    assert set(as_dict) == {
        "id",
        "name",
        "source",
        "subdir",
        "trunk",
        "service",
        "commit",
        "spec",
        "created_at",
        "updated_at",
    }
    assert json.loads(json.dumps(as_dict)) == as_dict
    as_dict["spec"]["service"] = "changed"
    assert record.spec["service"] == "shop"
