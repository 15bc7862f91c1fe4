"""The Alembic migrations build exactly the schema that ``andon.store.metadata`` declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from andon.store import Store, metadata


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
