"""Environments on SQLite and PostgreSQL: creating, reading, updating, deleting, a destroyed
name taken again, expiry, and the 0003 migration."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect

from andon.errors import ConflictError, NotFoundError
from andon.store import (
    EnvironmentKind,
    EnvironmentRecord,
    EnvironmentStatus,
    Store,
    open_store,
)
from andon.store._engine import create_store_engine
from andon.store._migrating import (
    alembic_config,
    current_revision,
    head_revision,
    migrating_connection,
)
from andon.store._urls import parse_url

DIGEST = "sha256:" + "ab" * 32


def create(store: Store, name: str = "staging", **changes: Any) -> EnvironmentRecord:
    fields: dict[str, Any] = {"project": "shop", "name": name, "kind": EnvironmentKind.DECLARED}
    fields.update(changes)
    return store.environments.create(**fields)


def test_a_new_environment_is_creating_and_empty(store: Store, clock: Any) -> None:
    record = create(store)

    assert record.status is EnvironmentStatus.CREATING
    assert record.kind is EnvironmentKind.DECLARED
    assert (record.created_at, record.updated_at) == (clock.now, clock.now)
    assert (record.artifact, record.version, record.url, record.router_port) == (None,) * 4
    assert (record.expires_at, record.copied_from, record.database, record.drift) == (None,) * 4
    assert (record.config_checksums, record.message) == ({}, "")
    assert store.environments.get("shop", "staging") == record


def test_an_ephemeral_copy_keeps_its_source_and_expiry(store: Store, clock: Any) -> None:
    expires = datetime(2024, 5, 1, 16, 0, tzinfo=timezone(timedelta(hours=2)))

    record = create(
        store, "pr-42", kind=EnvironmentKind.EPHEMERAL, copied_from="staging", expires_at=expires
    )

    assert record.kind is EnvironmentKind.EPHEMERAL
    assert record.copied_from == "staging"
    assert record.expires_at == datetime(2024, 5, 1, 14, 0, tzinfo=UTC)


def test_a_name_is_unique_within_its_project(store: Store) -> None:
    create(store)
    create(store, project="web")

    with pytest.raises(
        ConflictError, match=r"environment staging of shop exists already \(creating\)"
    ):
        create(store)


def test_a_destroyed_environment_is_replaced_when_its_name_is_created_again(
    store: Store, clock: Any
) -> None:
    old = create(store)
    store.environments.update("shop", "staging", status=EnvironmentStatus.DESTROYED)
    clock.advance(hours=1)

    new = create(store)

    assert new.id != old.id
    assert new.status is EnvironmentStatus.CREATING
    assert new.created_at == clock.now
    assert [e.id for e in store.environments.list("shop")] == [new.id]


def test_update_changes_only_what_it_is_given_and_none_clears(store: Store, clock: Any) -> None:
    create(store, expires_at=clock.now + timedelta(hours=2), message="creating")
    clock.advance(minutes=3)
    drift = [{"kind": "config", "subject": "config/shop.toml", "expected": "a", "actual": "b",
              "message": "config/shop.toml was changed by hand"}]  # fmt: skip

    record = store.environments.update(
        "shop",
        "staging",
        status=EnvironmentStatus.READY,
        artifact=DIGEST,
        version="a" * 40,
        url="http://127.0.0.1:8001",
        router_port=8001,
        config_checksums={"config/shop.toml": "9f" * 32},
        database={"engine": "sqlite", "url": "sqlite:////srv/shop.db", "path": "/srv/shop.db"},
        drift=drift,
        drift_checked_at=clock.now,
        expires_at=None,
        message="ready",
    )

    assert record.status is EnvironmentStatus.READY
    assert (record.artifact, record.router_port, record.expires_at) == (DIGEST, 8001, None)
    assert record.config_checksums == {"config/shop.toml": "9f" * 32}
    assert record.database == {"engine": "sqlite", "url": "sqlite:////srv/shop.db",
                               "path": "/srv/shop.db"}  # fmt: skip
    assert record.drift == drift
    assert record.drift_checked_at == record.updated_at == clock.now
    assert store.environments.get("shop", "staging") == record

    later = store.environments.update("shop", "staging", message="still ready")
    assert (later.status, later.artifact, later.message) == (
        EnvironmentStatus.READY,
        DIGEST,
        "still ready",
    )
    assert store.environments.update("shop", "staging", database=None).database is None


def test_a_database_url_is_stored_without_its_password(store: Store) -> None:
    create(store)

    record = store.environments.update(
        "shop",
        "staging",
        database={"engine": "postgres", "url": "postgresql://app:s3cret@db:5432/andon_shop_staging",
                  "name": "andon_shop_staging"},
    )  # fmt: skip

    assert record.database is not None
    assert "s3cret" not in json.dumps(record.database)
    assert record.database["url"] == "postgresql://app:***@db:5432/andon_shop_staging"


def test_missing_environments_are_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no environment prod in project shop"):
        store.environments.get("shop", "prod")
    with pytest.raises(NotFoundError):
        store.environments.update("shop", "prod", message="x")
    with pytest.raises(NotFoundError):
        store.environments.delete("shop", "prod")


def test_list_is_by_project_and_name_and_filters_by_status(store: Store) -> None:
    create(store, "test")
    create(store, "dev")
    create(store, "dev", project="web")
    store.environments.update("shop", "test", status=EnvironmentStatus.READY)

    assert [(e.project, e.name) for e in store.environments.list()] == [
        ("shop", "dev"),
        ("shop", "test"),
        ("web", "dev"),
    ]
    assert [e.name for e in store.environments.list("shop")] == ["dev", "test"]
    ready = store.environments.list(statuses=[EnvironmentStatus.READY])
    assert [e.name for e in ready] == ["test"]


def test_delete_forgets_the_environment(store: Store) -> None:
    create(store)

    store.environments.delete("shop", "staging")

    assert store.environments.list() == []


def test_expired_lists_what_is_due_and_not_destroyed_soonest_first(
    store: Store, clock: Any
) -> None:
    now = clock.now
    create(store, "later", expires_at=now + timedelta(minutes=1))
    create(store, "second", expires_at=now)
    create(store, "first", expires_at=now - timedelta(hours=1))
    create(store, "gone", expires_at=now - timedelta(hours=2))
    create(store, "forever")
    store.environments.update("shop", "gone", status=EnvironmentStatus.DESTROYED)
    store.environments.update("shop", "second", status=EnvironmentStatus.DESTROYING)

    assert [e.name for e in store.environments.expired(now)] == ["first", "second"]


def test_to_dict_gives_json_values_with_utc_timestamps(store: Store) -> None:
    record = create(store, expires_at=datetime(2024, 5, 1, 14, 0, tzinfo=UTC))

    as_dict = record.to_dict()

    assert as_dict["kind"] == "declared"
    assert as_dict["status"] == "creating"
    assert as_dict["created_at"] == "2024-05-01T12:00:00.123456Z"
    assert as_dict["expires_at"] == "2024-05-01T14:00:00Z"
    assert as_dict["drift_checked_at"] is None
    assert json.loads(json.dumps(as_dict)) == as_dict


def unique_constraints(store: Store, table: str) -> list[tuple[str, list[str]]]:
    return [
        (c["name"], c["column_names"]) for c in inspect(store.engine).get_unique_constraints(table)
    ]


def test_names_are_unique_by_named_constraints(store: Store) -> None:
    assert unique_constraints(store, "environments") == [
        ("uq_environments_project_name", ["project", "name"])
    ]
    assert unique_constraints(store, "secrets") == [
        ("uq_secrets_project_environment_name", ["project", "environment", "name"])
    ]


def test_downgrading_to_0002_drops_the_environment_tables(database_url: str) -> None:
    with open_store(database_url) as store:
        assert store.schema_revision() == head_revision()
        create(store)
    engine = create_store_engine(parse_url(database_url))
    try:
        with migrating_connection(engine) as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0002")

        assert current_revision(engine) == "0002"
        tables = set(inspect(engine).get_table_names())
        assert {"environments", "secrets"}.isdisjoint(tables)
        assert "pipelines" in tables
    finally:
        engine.dispose()

    with open_store(database_url) as store:
        assert store.environments.list() == []
