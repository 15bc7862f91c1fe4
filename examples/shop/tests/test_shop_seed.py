"""Seeding the catalog: idempotent upsert by SKU that never undoes sales."""

from __future__ import annotations

from pathlib import Path

import pytest
from shop import db, migrate, seed


def products(database: Path) -> list[tuple[str, str, int, int]]:
    with db.connection(database) as conn:
        rows = conn.execute("SELECT sku, name, price_cents, stock FROM products ORDER BY sku")
        return [(r["sku"], r["name"], r["price_cents"], r["stock"]) for r in rows]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    migrate.apply(path, migrate.discover())
    return path


def test_seed_inserts_the_catalog(database: Path) -> None:
    result = seed.seed(database)
    assert result == seed.SeedResult(added=len(seed.CATALOG), updated=0, unchanged=0)
    assert len(products(database)) == len(seed.CATALOG) == 8
    assert len({p.sku for p in seed.CATALOG}) == 8


def test_seeding_twice_changes_nothing(database: Path) -> None:
    seed.seed(database)
    before = products(database)
    assert seed.seed(database) == seed.SeedResult(added=0, updated=0, unchanged=8)
    assert products(database) == before


def test_reseeding_restores_reference_data_but_keeps_stock(database: Path) -> None:
    seed.seed(database)
    with db.connection(database) as conn, db.transaction(conn):
        conn.execute(
            "UPDATE products SET price_cents = 1, name = 'wrong', stock = 3 "
            "WHERE sku = 'enamel-mug'"
        )
    result = seed.seed(database)
    assert result.updated == 1
    mug = next(p for p in products(database) if p[0] == "enamel-mug")
    assert mug == ("enamel-mug", "Enamel mug", 1400, 3)


def test_seed_needs_a_migrated_database(tmp_path: Path) -> None:
    database = tmp_path / "empty.db"
    with db.connection(database, create=True):
        pass
    with pytest.raises(seed.NotMigratedError, match=r"python -m shop\.migrate"):
        seed.seed(database)


def test_cli(tmp_path: Path, database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "shop.toml"
    config.write_text(f"[database]\npath = {str(database)!r}\n", encoding="utf-8")
    assert seed.main(["--config", str(config)]) == 0
    assert "8 added, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert seed.main(["--config", str(config)]) == 0
    assert "0 added, 0 updated, 8 unchanged" in capsys.readouterr().out


def test_cli_refuses_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "shop.toml"
    config.write_text(f"[database]\npath = {str(tmp_path / 'none.db')!r}\n", encoding="utf-8")
    assert seed.main(["--config", str(config)]) == 1
    assert "run `python -m shop.migrate` first" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
