"""Reference data: the catalog every environment starts with.

``python -m shop.seed [--config PATH]`` upserts the products below by SKU and
can be run any number of times.

Name and price are reference data and are brought in line with this file on
every run. Stock is operational data: it is set only when a product is first
added, so re-seeding a live shop never undoes its sales.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shop import config as shop_config
from shop import db, migrate


@dataclass(frozen=True)
class SeedProduct:
    sku: str
    name: str
    price_cents: int
    stock: int


CATALOG: tuple[SeedProduct, ...] = (
    SeedProduct("andon-cord", "Andon cord, 10 m", 1999, 40),
    SeedProduct("signal-lamp-red", "Signal lamp, red", 4500, 25),
    SeedProduct("signal-lamp-amber", "Signal lamp, amber", 4500, 25),
    SeedProduct("kanban-cards", "Kanban cards, pack of 100", 1250, 200),
    SeedProduct("enamel-mug", "Enamel mug", 1400, 60),
    SeedProduct("dot-notebook", "A5 dot-grid notebook", 900, 120),
    SeedProduct("kitchen-timer", "Kitchen timer", 1100, 35),
    SeedProduct("sticky-notes", "Sticky notes, 12 pads", 650, 300),
)


@dataclass(frozen=True)
class SeedResult:
    added: int
    updated: int
    unchanged: int


class NotMigratedError(Exception):
    """The database has no catalog table yet."""


def seed(database: Path, catalog: Sequence[SeedProduct] = CATALOG) -> SeedResult:
    """Upsert `catalog` into `database` in one transaction."""
    added = updated = unchanged = 0
    with db.connection(database) as conn, db.transaction(conn):
        if migrate.current_version(conn) == 0:
            raise NotMigratedError(
                f"{database} is not migrated; run `python -m shop.migrate` first"
            )
        for product in catalog:
            row = conn.execute(
                "SELECT name, price_cents FROM products WHERE sku = ?", (product.sku,)
            ).fetchone()
            if row is None:
                added += 1
            elif (row["name"], row["price_cents"]) == (product.name, product.price_cents):
                unchanged += 1
                continue
            else:
                updated += 1
            conn.execute(
                """
                INSERT INTO products (sku, name, price_cents, stock) VALUES (?, ?, ?, ?)
                ON CONFLICT (sku) DO UPDATE
                    SET name = excluded.name, price_cents = excluded.price_cents
                """,
                (product.sku, product.name, product.price_cents, product.stock),
            )
    return SeedResult(added=added, updated=updated, unchanged=unchanged)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shop.seed", description="Insert or update the shop's catalog."
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: see README)")
    args = parser.parse_args(argv)
    config = shop_config.load_or_exit(args.config, prog="shop.seed")
    database = config.database_path
    if not database.exists():
        print(
            f"shop.seed: error: {database} does not exist; run `python -m shop.migrate` first",
            file=sys.stderr,
        )
        return 1
    try:
        result = seed(database)
    except (NotMigratedError, sqlite3.Error) as exc:
        print(f"shop.seed: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"seeded {len(CATALOG)} products into {database}: "
        f"{result.added} added, {result.updated} updated, {result.unchanged} unchanged"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
