"""open_store and Store: migrating on open, SQLite settings, and failures as one sentence."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from andon.errors import ConfigurationError, StoreUnavailableError
from andon.store import Store, open_store
from andon.store._migrating import head_revision


def test_a_new_store_is_at_the_head_revision(store: Store) -> None:
    assert store.schema_revision() == head_revision() == "0007"


def test_opening_the_same_database_twice_is_idempotent_and_keeps_the_data(
    database_url: str,
) -> None:
    with open_store(database_url) as first:
        first.projects.add(
            name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
            commit="a" * 40, spec={"service": "shop"},
        )  # fmt: skip

    with open_store(database_url) as second, open_store(database_url) as third:
        assert second.schema_revision() == third.schema_revision() == head_revision()
        assert [project.name for project in third.projects.list()] == ["shop"]


def test_stores_opened_at_the_same_moment_on_a_new_database_both_succeed(
    database_url: str,
) -> None:
    start = threading.Barrier(4)
    errors: list[BaseException] = []
    stores: list[Store] = []

    def open_concurrently() -> None:
        start.wait()
        try:
            stores.append(open_store(database_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_concurrently) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for opened in stores:
        opened.close()

    assert errors == []
    assert len(stores) == 4


def test_the_store_names_its_dialect_and_url(store: Store, database_url: str) -> None:
    assert store.dialect == ("sqlite" if database_url.startswith("sqlite") else "postgresql")
    assert store.url.startswith(store.dialect)
    assert repr(store) == f"Store({store.url!r})"


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_a_relative_sqlite_path_is_pinned_to_the_directory_it_was_opened_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///state/andon.db") as opened:
        monkeypatch.chdir(tmp_path.parent)
        opened.projects.add(
            name="shop", source=".", subdir="", trunk="main", service="shop",
            commit="a" * 40, spec={},
        )  # fmt: skip

        assert (tmp_path / "state" / "andon.db").is_file()
        assert opened.url == f"sqlite:///{tmp_path / 'state' / 'andon.db'}"
        assert [project.name for project in opened.projects.list()] == ["shop"]


def test_an_in_memory_sqlite_store_keeps_its_schema_across_threads() -> None:
    with open_store("sqlite://") as opened:
        results: list[str] = []
        worker = threading.Thread(target=lambda: results.append(opened.schema_revision()))
        worker.start()
        worker.join()

        assert results == [head_revision()]


def test_a_sqlite_path_under_a_file_is_unavailable_in_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    database = blocker / "state" / "andon.db"

    with pytest.raises(StoreUnavailableError) as caught:
        open_store(f"sqlite:///{database}")

    message = str(caught.value)
    assert message.startswith(f"cannot open the database at {database} (")
    assert "ANDON_DATABASE_URL" in message
    assert "\n" not in message
    assert isinstance(caught.value.__cause__, OSError)


def test_a_sqlite_path_that_is_a_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="unable to open database file"):
        open_store(f"sqlite:///{tmp_path}")


def test_an_unreachable_postgres_names_host_and_port_but_not_the_password() -> None:
    url = "postgresql+psycopg://andon:hunter2-secret@127.0.0.1:1/andon"

    with pytest.raises(StoreUnavailableError) as caught:
        open_store(url)

    message = str(caught.value)
    assert message == (
        "cannot reach the database at 127.0.0.1:1 (connection refused); "
        "check ANDON_DATABASE_URL and that the server is running."
    )
    assert "hunter2" not in message
    assert caught.value.__cause__ is not None


@pytest.mark.postgres
def test_a_missing_postgres_database_is_unavailable_and_named(postgres_url: str) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/andon_no_such_database"

    with pytest.raises(StoreUnavailableError, match='database "andon_no_such_database" does not'):
        open_store(missing)


@pytest.mark.parametrize(
    "url",
    ["mysql+pymysql://andon:pw@db/andon", "not a url", "sqlite+nosuchdriver:///x.db"],
)
def test_a_url_for_no_supported_database_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="ANDON_DATABASE_URL") as caught:
        open_store(url)

    assert "pw@" not in str(caught.value)


@pytest.mark.postgres
def test_a_postgresql_url_without_a_driver_uses_psycopg(postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")

    with open_store(plain) as opened:
        assert opened.url.startswith("postgresql+psycopg://")
        assert opened.schema_revision() == head_revision()


def test_a_database_from_a_newer_andon_is_a_configuration_error(sqlite_url: str) -> None:
    with open_store(sqlite_url) as opened, opened.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    with pytest.raises(ConfigurationError, match="newer Andon"):
        open_store(sqlite_url)


def test_closing_twice_and_leaving_the_context_are_harmless(sqlite_url: str) -> None:
    with open_store(sqlite_url) as opened:
        opened.close()
    opened.close()
