"""Numbered SQL migrations, applied in order and recorded in the database.

Migrations live in ``examples/shop/migrations`` as ``NNNN_name.sql`` files.
Each one runs in its own transaction together with the row that records it in
``schema_migrations(version, name, applied_at)``, so a migration is either
fully applied and recorded or not applied at all. Re-running applies nothing
new.

Migrations must be backwards compatible (expand first, contract in a later
release): during a canary or blue-green deploy the previous release keeps
running against the migrated schema. That is also why /healthz accepts a
database that is *ahead* of the code.

Usage::

    python -m shop.migrate [--config PATH]           # apply pending migrations
    python -m shop.migrate [--config PATH] --status  # print the current version
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shop import config as shop_config
from shop import db

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at TEXT    NOT NULL
)
"""


class MigrationError(Exception):
    """A migration file is malformed or failed to apply."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    def statements(self) -> list[str]:
        return split_statements(self.path.read_text(encoding="utf-8"), self.path.name)


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migrations in `directory`, sorted by version."""
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILENAME.match(path.name)
        if match is None:
            # A file that looks like a migration but would be skipped is
            # almost certainly a mistake; refuse rather than ignore it.
            raise MigrationError(f"{path.name}: migration files must be named NNNN_name.sql")
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(
                f"{path.name}: version {version} is also used by {migrations[version].path.name}"
            )
        migrations[version] = Migration(version, match["name"], path)
    return [migrations[v] for v in sorted(migrations)]


def split_statements(script: str, source: str = "<sql>") -> list[str]:
    """Split a SQL script into single statements.

    ``sqlite3.complete_statement`` knows about string literals, comments and
    trigger bodies, so a semicolon only ends a statement where SQLite agrees.
    Statements are executed one at a time (rather than with ``executescript``,
    which commits any open transaction first) so the whole file can share one
    transaction with its ledger row.
    """
    statements: list[str] = []
    start = 0
    for index, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : index + 1]):
            statement = script[start : index + 1].strip()
            if _COMMENT.sub("", statement).strip() != ";":
                statements.append(statement)
            start = index + 1
    if _COMMENT.sub("", script[start:]).strip():
        raise MigrationError(f"{source}: the last statement is not terminated by ';'")
    return statements


def current_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration version, or 0 for an unmigrated database."""
    ledger = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if ledger is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def applied_versions(conn: sqlite3.Connection) -> set[int]:
    if current_version(conn) == 0:
        return set()
    return {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}


def pending(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> list[Migration]:
    done = applied_versions(conn)
    return [m for m in migrations if m.version not in done]


def apply(database: Path, migrations: Sequence[Migration]) -> list[Migration]:
    """Apply every migration not yet recorded; return the ones applied now."""
    applied: list[Migration] = []
    with db.connection(database, create=True) as conn:
        conn.execute(_CREATE_LEDGER)
        for migration in migrations:
            statements = migration.statements()  # parse before taking the lock
            with db.transaction(conn):
                # Checked inside the write transaction: if two deploy jobs race,
                # the second sees the first one's row and skips the migration.
                if conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
                ).fetchone():
                    continue
                for statement in statements:
                    try:
                        conn.execute(statement)
                    except sqlite3.Error as exc:
                        raise MigrationError(f"{migration.path.name}: {exc}") from exc
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (
                        migration.version,
                        migration.name,
                        datetime.now(UTC).isoformat(timespec="seconds"),
                    ),
                )
            applied.append(migration)
    return applied


def status_line(database: Path, migrations: Sequence[Migration]) -> str:
    """One line describing the schema version of `database` and what is pending."""
    if not database.exists():
        return f"{database}: no database yet (version 0); {len(migrations)} migration(s) pending"
    with db.connection(database) as conn:
        version = current_version(conn)
        waiting = pending(conn, migrations)
    names = {m.version: m.label for m in migrations}
    current = f"version {version}" + (f" ({names[version]})" if version in names else "")
    if not waiting:
        return f"{database}: {current}; up to date"
    return f"{database}: {current}; {len(waiting)} pending: " + ", ".join(m.label for m in waiting)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shop.migrate", description="Apply the shop's database migrations."
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: see README)")
    parser.add_argument(
        "--status", action="store_true", help="print the schema version and pending migrations"
    )
    args = parser.parse_args(argv)
    config = shop_config.load_or_exit(args.config, prog="shop.migrate")
    database = config.database_path
    try:
        migrations = discover()
        if args.status:
            print(status_line(database, migrations))
            return 0
        applied = apply(database, migrations)
        for migration in applied:
            print(f"applied {migration.label}")
        if not applied:
            print("nothing to apply")
        print(status_line(database, migrations))
    except (MigrationError, sqlite3.Error, OSError) as exc:
        print(f"shop.migrate: error: {database}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
