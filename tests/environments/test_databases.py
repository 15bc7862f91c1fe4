"""Each environment's own database: a real SQLite file, and real PostgreSQL databases created
and dropped on the server at 127.0.0.1:5432."""

from __future__ import annotations

import secrets
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from andon.environments import (
    DatabaseInfo,
    database_name,
    drop_database,
    provision_database,
)
from andon.errors import ConfigurationError, TemporaryError, UsageError
from andon.settings import Settings
from andon.spec import AndonSpec, DatabaseEngine


def with_engine(spec: AndonSpec, engine: DatabaseEngine) -> AndonSpec:
    assert spec.database is not None
    return spec.model_copy(update={"database": spec.database.model_copy(update={"engine": engine})})


def test_sqlite_gets_an_empty_private_file_under_andon_home(
    shop_spec: AndonSpec, settings: Settings
) -> None:
    info = provision_database(shop_spec, "shop", "test", settings)

    path = settings.home / "environments" / "shop" / "test" / "data" / "shop.db"
    assert info == DatabaseInfo(engine=DatabaseEngine.SQLITE, url=f"sqlite:///{path}", path=path)
    assert path.read_bytes() == b""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert info.url.startswith("sqlite:////")
    assert info.environment("DATABASE_URL") == {"DATABASE_URL": info.url}
    assert info.to_dict() == {"engine": "sqlite", "url": info.url, "path": str(path), "name": None}


def test_provisioning_sqlite_again_keeps_the_data(shop_spec: AndonSpec, settings: Settings) -> None:
    info = provision_database(shop_spec, "shop", "test", settings)
    assert info is not None and info.path is not None
    with sqlite3.connect(info.path) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER)")
        connection.execute("INSERT INTO orders VALUES (1)")
    connection.close()

    again = provision_database(shop_spec, "shop", "test", settings)

    assert again == info
    with sqlite3.connect(info.path) as connection:
        assert connection.execute("SELECT id FROM orders").fetchall() == [(1,)]
    connection.close()


def test_dropping_sqlite_removes_the_file_and_its_journal(
    shop_spec: AndonSpec, settings: Settings
) -> None:
    info = provision_database(shop_spec, "shop", "test", settings)
    assert info is not None and info.path is not None
    Path(f"{info.path}-wal").write_bytes(b"wal")

    drop_database(info, settings)
    drop_database(info, settings)

    assert list(info.path.parent.iterdir()) == []


def test_a_spec_without_a_database_gets_none(shop_spec: AndonSpec, settings: Settings) -> None:
    bare = shop_spec.model_copy(update={"database": None})

    assert provision_database(bare, "shop", "test", settings) is None


@pytest.mark.parametrize("project", ["../etc", "a/b", "", ".hidden"])
def test_a_name_that_cannot_be_a_directory_is_refused(
    shop_spec: AndonSpec, settings: Settings, project: str
) -> None:
    with pytest.raises(UsageError, match="cannot name a directory"):
        provision_database(shop_spec, project, "test", settings)


def test_database_names_are_plain_when_they_can_be() -> None:
    assert database_name("shop", "staging") == "andon_shop_staging"


def test_database_names_that_had_to_change_get_a_hash_so_that_they_never_collide() -> None:
    first = database_name("a-b", "c")
    second = database_name("a", "b-c")

    assert first.startswith("andon_a_b_c_")
    assert second.startswith("andon_a_b_c_")
    assert first != second


def test_long_database_names_are_cut_to_63_characters_and_stay_distinct() -> None:
    first = database_name("p" * 60, "staging")
    second = database_name("p" * 60, "prod")

    assert len(first) == len(second) == 63
    assert first != second
    assert first.startswith("andon_ppp")


def test_postgres_without_andon_postgres_url_says_to_set_it(
    shop_spec: AndonSpec, settings: Settings
) -> None:
    with pytest.raises(ConfigurationError, match="ANDON_POSTGRES_URL is not set; set it to"):
        provision_database(with_engine(shop_spec, DatabaseEngine.POSTGRES), "shop", "t", settings)


def test_an_unreachable_postgres_server_is_one_line_naming_it_without_the_password(
    shop_spec: AndonSpec, andon_home: Path
) -> None:
    settings = Settings.from_env(
        {
            "ANDON_HOME": str(andon_home),
            "ANDON_POSTGRES_URL": "postgresql+psycopg://app:topsecret@127.0.0.1:1/postgres",
        }
    )

    with pytest.raises(TemporaryError) as caught:
        provision_database(with_engine(shop_spec, DatabaseEngine.POSTGRES), "shop", "t", settings)

    message = str(caught.value)
    assert "127.0.0.1:1" in message
    assert "topsecret" not in message
    assert "topsecret" not in repr(settings)
    assert "\n" not in message
    assert message.endswith("check ANDON_POSTGRES_URL and that the server is running.")


def test_a_url_that_is_not_postgres_is_refused_without_its_password(
    shop_spec: AndonSpec, andon_home: Path
) -> None:
    settings = Settings.from_env(
        {"ANDON_HOME": str(andon_home), "ANDON_POSTGRES_URL": "mysql://u:topsecret@db/x"}
    )

    with pytest.raises(ConfigurationError, match="is not a PostgreSQL URL") as caught:
        provision_database(with_engine(shop_spec, DatabaseEngine.POSTGRES), "shop", "t", settings)

    assert "topsecret" not in str(caught.value)


@pytest.mark.postgres
class TestPostgres:
    @pytest.fixture
    def pg_settings(self, andon_home: Path, postgres_server_url: str) -> Settings:
        return Settings.from_env(
            {"ANDON_HOME": str(andon_home), "ANDON_POSTGRES_URL": postgres_server_url}
        )

    @pytest.fixture
    def project(self, pg_settings: Settings) -> Iterator[str]:
        """A project name no other run uses; its databases are dropped afterwards."""
        name = f"t{secrets.token_hex(4)}"
        yield name
        for env in ("test", "staging"):
            info = DatabaseInfo(
                engine=DatabaseEngine.POSTGRES, url="", name=database_name(name, env)
            )
            drop_database(info, pg_settings)

    def exists(self, server: str, name: str) -> bool:
        with psycopg.connect(server) as connection:
            found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return found.fetchone() is not None

    def test_a_database_is_created_once_and_keeps_its_data(
        self, shop_spec: AndonSpec, pg_settings: Settings, project: str, postgres_server_url: str
    ) -> None:
        spec = with_engine(shop_spec, DatabaseEngine.POSTGRES)

        info = provision_database(spec, project, "staging", pg_settings)

        assert info is not None
        assert info.name == f"andon_{project}_staging"
        assert info.path is None
        assert info.url.endswith(f"/andon_{project}_staging")
        assert info.url.startswith("postgresql://")
        assert self.exists(postgres_server_url, info.name)
        with psycopg.connect(info.url) as connection:
            connection.execute("CREATE TABLE orders (id integer)")
            connection.execute("INSERT INTO orders VALUES (7)")

        assert provision_database(spec, project, "staging", pg_settings) == info
        with psycopg.connect(info.url) as connection:
            assert connection.execute("SELECT id FROM orders").fetchall() == [(7,)]

    def test_environments_of_a_project_get_separate_databases(
        self, shop_spec: AndonSpec, pg_settings: Settings, project: str
    ) -> None:
        spec = with_engine(shop_spec, DatabaseEngine.POSTGRES)

        test = provision_database(spec, project, "test", pg_settings)
        staging = provision_database(spec, project, "staging", pg_settings)

        assert test is not None and staging is not None
        assert test.name != staging.name

    def test_dropping_removes_the_database_even_while_connected(
        self, shop_spec: AndonSpec, pg_settings: Settings, project: str, postgres_server_url: str
    ) -> None:
        info = provision_database(
            with_engine(shop_spec, DatabaseEngine.POSTGRES), project, "test", pg_settings
        )
        assert info is not None and info.name is not None
        connected = psycopg.connect(info.url)
        try:
            drop_database(info, pg_settings)
        finally:
            connected.close()

        assert not self.exists(postgres_server_url, info.name)
        drop_database(info, pg_settings)

    def test_a_stored_description_is_enough_to_drop_it(
        self, shop_spec: AndonSpec, pg_settings: Settings, project: str, postgres_server_url: str
    ) -> None:
        info = provision_database(
            with_engine(shop_spec, DatabaseEngine.POSTGRES), project, "test", pg_settings
        )
        assert info is not None and info.name is not None

        drop_database(DatabaseInfo.from_dict(info.to_dict()), pg_settings)

        assert not self.exists(postgres_server_url, info.name)
