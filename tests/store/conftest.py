"""Fixtures for the store tests: a fake clock and a fresh database per test, on SQLite and on
PostgreSQL (a throwaway schema of one database per test process, on the server at
127.0.0.1:5432 or ANDON_TEST_POSTGRES_URL).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from andon.store import Store, open_store

DEFAULT_POSTGRES_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"


class FakeClock:
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC))


def postgres_admin_url() -> URL:
    return make_url(os.environ.get("ANDON_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An autocommit engine on the server's admin database; skips when no server answers."""
    url = postgres_admin_url()
    engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0]
        pytest.skip(f"PostgreSQL not reachable at {url.host}:{url.port or 5432}: {reason}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_database(postgres_admin: Engine) -> Iterator[URL]:
    """One throwaway database for this test process, dropped at its end."""
    name = f"andon_test_{secrets.token_hex(6)}"
    with postgres_admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_admin.url.set(database=name)
    finally:
        with postgres_admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_database: URL) -> Iterator[str]:
    """The URL of a new, empty schema (first on the connection's search path) of this
    process's database, dropped after the test: as good as a new database for the store,
    at a fraction of CREATE DATABASE's cost."""
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = postgres_database.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text("SET lock_timeout = '10s'"))
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'andon.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A URL of an empty database, once per backend."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def store(database_url: str, clock: FakeClock) -> Iterator[Store]:
    with open_store(database_url, clock=clock) as opened:
        yield opened


@pytest.fixture
def sqlite_store(sqlite_url: str, clock: FakeClock) -> Iterator[Store]:
    with open_store(sqlite_url, clock=clock) as opened:
        yield opened
