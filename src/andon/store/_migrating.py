"""Bringing a database's schema to the newest Alembic revision, in-process.

``open_store`` calls :func:`upgrade_to_head` on every start, so a fresh database gets its
tables and an older one its migrations; ``Store.schema_revision`` reads the revision back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from andon.errors import ConfigurationError
from andon.store._engine import WRITE_LOCK_OPTION
from andon.store._urls import describe_location

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Key of the PostgreSQL advisory lock held while migrating.
_POSTGRES_MIGRATION_LOCK = 0x616E646F6E  # "andon"


def alembic_config() -> Config:
    """Alembic's configuration, built in code so that no alembic.ini is needed at run time."""
    config = Config()
    # ConfigParser treats '%' as interpolation; a path may contain one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    """The newest revision among the shipped migrations."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Apply every pending migration in one transaction; do nothing when at head.

    Concurrent callers are serialised by :func:`migrating_connection`, so the second one
    finds the schema at head and changes nothing.
    """
    with migrating_connection(engine) as connection:
        config = alembic_config()
        # env.py runs the migrations on this connection, inside its transaction.
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            # Typically a revision from a newer Andon that this one does not ship.
            raise ConfigurationError(
                f"cannot migrate the database at {describe_location(engine.url)} ({exc}); "
                "it may have been written by a newer Andon, so upgrade Andon or point "
                "ANDON_DATABASE_URL at another database."
            ) from exc


@contextmanager
def migrating_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that only one migrator at a time can hold.

    On PostgreSQL an advisory lock, on SQLite the write lock taken at BEGIN: server
    replicas starting together would otherwise both try to create the same tables.
    """
    with engine.connect() as connection, _foreign_keys_off_on_sqlite(connection):
        connection.execution_options(**{WRITE_LOCK_OPTION: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": _POSTGRES_MIGRATION_LOCK},
                )
            yield connection


@contextmanager
def _foreign_keys_off_on_sqlite(connection: Connection) -> Iterator[None]:
    # Batch migrations on SQLite rebuild a table by copying and dropping it; with foreign
    # keys on, the drop would cascade to referencing rows. The pragma is ignored inside a
    # transaction, so it is set on the raw connection before BEGIN.
    if connection.dialect.name != "sqlite":
        yield
        return
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        driver_connection.execute("PRAGMA foreign_keys = ON")
