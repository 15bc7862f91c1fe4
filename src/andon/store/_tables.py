"""The store's schema: the SQLAlchemy ``metadata`` and its tables.

Repositories query these tables; Alembic's ``env.py`` compares them with the database to
autogenerate migrations, and the tests check that the migrations build exactly this schema.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, Dialect, Integer, MetaData, String, Table, Text
from sqlalchemy.types import TypeDecorator

PROJECT_NAME_MAX_LENGTH = 100

# Fixed constraint names, so that a migration written on SQLite names the same constraints
# on PostgreSQL and a later migration can drop them by name on both.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps ``timestamptz`` but returns it in the session's time zone; SQLite keeps
    text without an offset and returns naive datetimes. Values are written as UTC and read
    back as UTC-aware on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            # A naive value is ambiguous; storing it would shift it by the host's offset.
            raise ValueError(f"the store keeps timezone-aware datetimes only, got {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(PROJECT_NAME_MAX_LENGTH), nullable=False, unique=True),
    # A local path or a git URL; neither has a useful upper bound.
    Column("source", Text, nullable=False),
    # '' means the repository root.
    Column("subdir", Text, nullable=False),
    Column("trunk", Text, nullable=False),
    Column("service", Text, nullable=False),
    # The trunk commit at which ``spec`` was read.
    Column("commit", Text, nullable=False),
    # JSON rather than JSONB on PostgreSQL: JSONB reorders keys, and the spec is shown back
    # to people in the order they wrote it. Nothing queries inside it.
    Column("spec", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
