"""The Alembic migrations build exactly the schema that ``andon.store.metadata`` declares,
and upgrade an older database without losing what it holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, delete, insert, inspect, text

from andon.store import PipelineStatus, Store, metadata, open_store
from andon.store._engine import create_store_engine
from andon.store._migrating import (
    alembic_config,
    current_revision,
    head_revision,
    migrating_connection,
)
from andon.store._urls import parse_url

PIPELINE_TABLES = {"pipelines", "jobs", "artifacts", "line_events", "flaky_tests"}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the empty database, for migrating it step by step."""
    created = create_store_engine(parse_url(database_url))
    yield created
    created.dispose()


def migrate(engine: Engine, direction: str, revision: str) -> None:
    with migrating_connection(engine) as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def test_the_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)

    assert differences == []


def test_the_migrations_create_every_table_and_the_version_table(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())

    assert tables == set(metadata.tables) | {"alembic_version"}


def test_project_names_are_unique_by_a_named_constraint(store: Store) -> None:
    constraints = inspect(store.engine).get_unique_constraints("projects")

    assert [(c["name"], c["column_names"]) for c in constraints] == [("uq_projects_name", ["name"])]


def test_job_names_are_unique_per_pipeline_by_a_named_constraint(store: Store) -> None:
    constraints = inspect(store.engine).get_unique_constraints("jobs")

    assert [(c["name"], c["column_names"]) for c in constraints] == [
        ("uq_jobs_pipeline_id_name", ["pipeline_id", "name"])
    ]


def test_jobs_reference_their_pipeline_by_a_cascading_foreign_key(store: Store) -> None:
    [foreign_key] = inspect(store.engine).get_foreign_keys("jobs")

    assert foreign_key["name"] == "fk_jobs_pipeline_id_pipelines"
    assert foreign_key["referred_table"] == "pipelines"
    assert foreign_key["options"].get("ondelete") == "CASCADE"


def test_sqlite_never_hands_out_the_id_of_a_deleted_newest_pipeline(
    sqlite_store: Store,
) -> None:
    def create() -> int:
        return sqlite_store.pipelines.create(
            project="shop", commit="a" * 40, branch="main", trigger="poll", on_trunk=True
        ).id

    create()
    newest = create()
    with sqlite_store.engine.begin() as connection:
        pipelines = metadata.tables["pipelines"]
        connection.execute(delete(pipelines).where(pipelines.c.id == newest))

    assert create() > newest


def test_upgrading_a_database_at_0001_keeps_its_projects(engine: Engine, database_url: str) -> None:
    migrate(engine, "upgrade", "0001")
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(metadata.tables["projects"]).values(
                name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
                commit="a" * 40, spec={"service": "shop"}, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    assert set(inspect(engine).get_table_names()).isdisjoint(PIPELINE_TABLES)

    with open_store(database_url) as store:
        assert store.schema_revision() == head_revision()
        assert [p.name for p in store.projects.list()] == ["shop"]
        assert store.projects.get("shop").spec == {"service": "shop"}
        pipeline = store.pipelines.create(
            project="shop", commit="a" * 40, branch="main", trigger="poll", on_trunk=True
        )
        assert pipeline.status is PipelineStatus.QUEUED


def test_downgrading_to_0001_drops_the_pipeline_tables_and_keeps_projects(
    engine: Engine, database_url: str
) -> None:
    with open_store(database_url) as store:
        store.projects.add(
            name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
            commit="a" * 40, spec={},
        )  # fmt: skip
        store.pipelines.create(
            project="shop", commit="a" * 40, branch="main", trigger="poll", on_trunk=True
        )

    migrate(engine, "downgrade", "0001")

    assert current_revision(engine) == "0001"
    assert set(inspect(engine).get_table_names()) == {"projects", "alembic_version"}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM projects")).scalars().all() == ["shop"]
