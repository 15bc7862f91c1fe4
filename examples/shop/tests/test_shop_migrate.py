"""Migrations: applied in order, recorded, idempotent, atomic per file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from shop import db, migrate


def ledger(database: Path) -> list[tuple[int, str, str]]:
    with db.connection(database) as conn:
        rows = conn.execute(
            "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
        )
        return [(row[0], row[1], row[2]) for row in rows]


def tables(database: Path) -> set[str]:
    with db.connection(database) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}


def write_config(tmp_path: Path, database: Path) -> Path:
    path = tmp_path / "shop.toml"
    path.write_text(f"[database]\npath = {str(database)!r}\n", encoding="utf-8")
    return path


def test_migrations_are_applied_in_order_and_recorded(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    applied = migrate.apply(database, migrate.discover())
    assert [m.label for m in applied] == ["0001_catalog", "0002_cart_orders"]
    assert [(v, n) for v, n, _ in ledger(database)] == [(1, "catalog"), (2, "cart_orders")]
    assert all(applied_at.endswith("+00:00") for _, _, applied_at in ledger(database))
    assert {"products", "carts", "cart_items", "orders", "order_lines"} <= tables(database)
    with db.connection(database) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert migrate.current_version(conn) == 2


def test_rerunning_applies_nothing(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    migrate.apply(database, migrate.discover())
    before = ledger(database)
    assert migrate.apply(database, migrate.discover()) == []
    assert ledger(database) == before


def test_only_new_migrations_are_applied_later(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    migrations = migrate.discover()
    assert [m.label for m in migrate.apply(database, migrations[:1])] == ["0001_catalog"]
    assert [m.label for m in migrate.apply(database, migrations)] == ["0002_cart_orders"]


def test_a_failing_migration_leaves_no_trace(tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    shutil.copy(migrate.MIGRATIONS_DIR / "0001_catalog.sql", directory)
    (directory / "0002_broken.sql").write_text(
        "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
        encoding="utf-8",
    )
    database = tmp_path / "shop.db"
    with pytest.raises(migrate.MigrationError, match=r"0002_broken\.sql: no such table"):
        migrate.apply(database, migrate.discover(directory))
    assert [v for v, _, _ in ledger(database)] == [1]
    assert "half_done" not in tables(database)


def test_statements_are_split_where_sqlite_says_they_end() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE t (x TEXT DEFAULT 'a;b');  /* block; comment */
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = 'c;d';
    END;
    INSERT INTO t VALUES ('e'); INSERT INTO t VALUES ('f');
    """
    statements = migrate.split_statements(script)
    assert len(statements) == 4
    assert statements[1].endswith("END;")
    assert statements[3] == "INSERT INTO t VALUES ('f');"


def test_an_unterminated_statement_is_refused() -> None:
    with pytest.raises(migrate.MigrationError, match="not terminated"):
        migrate.split_statements("CREATE TABLE t (x);\nCREATE TABLE u (y)\n-- trailing", "x.sql")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["0001_a.sql", "0001_b.sql"], "version 1 is also used by"),
        (["1_short.sql"], "must be named NNNN_name.sql"),
        (["0001_Upper.sql"], "must be named NNNN_name.sql"),
    ],
)
def test_discover_refuses_ambiguous_files(tmp_path: Path, files: list[str], message: str) -> None:
    for name in files:
        (tmp_path / name).write_text("SELECT 1;\n", encoding="utf-8")
    with pytest.raises(migrate.MigrationError, match=message):
        migrate.discover(tmp_path)


def test_cli_applies_then_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "data" / "shop.db"  # the parent directory is created too
    config = write_config(tmp_path, database)

    assert migrate.main(["--config", str(config), "--status"]) == 0
    assert "no database yet (version 0); 2 migration(s) pending" in capsys.readouterr().out

    assert migrate.main(["--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["applied 0001_catalog", "applied 0002_cart_orders"]
    assert out[2].endswith("version 2 (0002_cart_orders); up to date")

    assert migrate.main(["--config", str(config)]) == 0
    assert capsys.readouterr().out.startswith("nothing to apply\n")

    assert migrate.main(["--config", str(config), "--status"]) == 0
    assert capsys.readouterr().out.strip().endswith("version 2 (0002_cart_orders); up to date")


def test_status_lists_pending_migrations(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    migrations = migrate.discover()
    migrate.apply(database, migrations[:1])
    line = migrate.status_line(database, migrations)
    assert line.endswith("version 1 (0001_catalog); 1 pending: 0002_cart_orders")
