"""The SQLAlchemy engine behind a store, set up per backend.

``open_store`` calls :func:`create_store_engine`, and so does the migrations' ``env.py`` when a
developer runs Alembic by hand, so both see the same SQLite pragmas and transaction handling.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Literal, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.pool import StaticPool

from andon.errors import ConfigurationError
from andon.store._failures import reporting_unavailability
from andon.store._urls import (
    is_in_memory_sqlite,
    redact_url,
    sqlite_path,
    with_absolute_sqlite_path,
)

Dialect = Literal["sqlite", "postgresql"]

SQLITE_BUSY_TIMEOUT_MS = 5_000
POSTGRES_CONNECT_TIMEOUT_S = 10
_WAL_RETRY_INTERVAL_S = 0.01

# Execution option that makes a SQLite transaction take the write lock at BEGIN; see
# _begin_sqlite_transaction.
WRITE_LOCK_OPTION = "andon_write_lock"


def create_store_engine(url: URL) -> Engine:
    """An engine for ``url`` (SQLite or PostgreSQL); makes a SQLite file's directory.

    Raises ConfigurationError for other backends or a missing driver, and
    StoreUnavailableError when the SQLite directory cannot be made.
    """
    backend = url.get_backend_name()
    # "postgresql://" would pick psycopg2, which Andon does not ship, and "postgres://" is
    # what many hosting providers hand out; both mean psycopg 3 here.
    if url.drivername in {"postgres", "postgresql"}:
        url = url.set(drivername="postgresql+psycopg")
        backend = "postgresql"
    try:
        if backend == "sqlite":
            return _create_sqlite_engine(url)
        if backend == "postgresql":
            return _create_postgres_engine(url)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigurationError(
            f"no database driver for '{redact_url(url)}'; use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST:PORT/DATABASE in ANDON_DATABASE_URL."
        ) from exc
    raise ConfigurationError(
        f"Andon stores its data in SQLite or PostgreSQL, not '{backend}'; set "
        "ANDON_DATABASE_URL to sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DATABASE."
    )


def dialect_of(engine: Engine) -> Dialect:
    """The engine's backend, as one of the two Andon supports."""
    return cast(Dialect, engine.dialect.name)


def _create_postgres_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    # Without a timeout, a host that drops packets makes open_store hang for minutes.
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    # pre_ping: a server restart would otherwise surface as an error on the first request
    # after it, from a pooled connection that is already dead.
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _create_sqlite_engine(url: URL) -> Engine:
    url = with_absolute_sqlite_path(url)
    path = sqlite_path(url)
    if path is not None:
        with reporting_unavailability(url):
            path.parent.mkdir(parents=True, exist_ok=True)
    if is_in_memory_sqlite(url):
        # Every connection to ":memory:" is a new, empty database; share one connection so
        # the migrated schema is the one the repositories see, from any thread.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: object) -> None:
    # Python's sqlite3 would BEGIN only before INSERT/UPDATE/DELETE, leaving migrations' DDL
    # and SELECTs outside the transaction; switch that off and BEGIN ourselves (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first, so that switching to WAL waits for a concurrent opener.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL lets the server's readers run while a writer commits.
        _switch_to_wal(cursor)
        # SQLite ignores foreign keys unless each connection asks for them.
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    # Converting a new database to WAL needs it alone for a moment, and SQLite then answers
    # "database is locked" at once instead of waiting out busy_timeout; retry within that
    # time, so that processes opening a new database together all succeed.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(_WAL_RETRY_INTERVAL_S)


def _begin_sqlite_transaction(connection: Connection) -> None:
    # A deferred BEGIN takes the write lock only at the first write; if another writer
    # committed after this transaction's first read, SQLite then fails at once instead of
    # waiting out busy_timeout. Transactions that read before writing (migrations) ask for
    # the lock up front with WRITE_LOCK_OPTION.
    if connection.get_execution_options().get(WRITE_LOCK_OPTION):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")
