"""Alembic's environment for the store's migrations.

``open_store`` runs it in-process with an open connection in ``config.attributes``; a developer
runs it through ``alembic -c src/andon/store/alembic.ini ...`` with ANDON_DATABASE_URL set.
"""

from __future__ import annotations

import logging.config
import os
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from andon.store._engine import create_store_engine
from andon.store._migrating import migrating_connection
from andon.store._tables import UTCDateTime, metadata
from andon.store._urls import parse_url


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | bool:
    # Migrations must not import andon's column types: a later refactor would break old
    # revisions. UTCDateTime is stored as a plain timezone-aware DateTime.
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


_OPTIONS: dict[str, Any] = {
    "target_metadata": metadata,
    "compare_type": True,
    "render_item": _render_item,
    # Batch operations work on both backends; plain ALTERs fail on SQLite.
    "render_as_batch": True,
    # Alembic assumes SQLite cannot roll back DDL; it can, as the engine emits BEGIN itself.
    "transactional_ddl": True,
}


def _database_url() -> str:
    url = os.environ.get("ANDON_DATABASE_URL")
    if not url:
        raise SystemExit("set ANDON_DATABASE_URL to the database to migrate or compare with.")
    return url


def _run_on(connection: Connection) -> None:
    context.configure(connection=connection, **_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    # `alembic upgrade --sql`: print the SQL instead of running it.
    context.configure(url=_database_url(), literal_binds=True, **_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    given: Connection | None = context.config.attributes.get("connection")
    if given is not None:
        _run_on(given)
        return
    engine = create_store_engine(parse_url(_database_url()))
    try:
        with migrating_connection(engine) as connection:
            _run_on(connection)
    finally:
        engine.dispose()


# Only a developer's alembic.ini names a file; in-process runs leave logging to the host.
if context.config.config_file_name is not None:
    logging.config.fileConfig(context.config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
