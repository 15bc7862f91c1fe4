"""SQLite connections and transactions.

The server opens one short-lived connection per request. Each request already
runs on its own thread (ThreadingHTTPServer), and SQLite connections are cheap
to open, so a pool would add complexity without a measurable gain. Closing the
connection at the end of every request also means nothing leaks between
requests.

Connections run in autocommit mode (``isolation_level=None``) and every write
is wrapped explicitly in :func:`transaction`. The ``sqlite3`` module's implicit
transaction handling is easy to misread; explicit ``BEGIN``/``COMMIT`` is not.

The database uses WAL journalling so readers (catalog pages, health checks,
metrics) never block behind a checkout that is writing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# How long a writer waits for another writer's lock before giving up. Checkout
# transactions are a handful of statements, so five seconds is generous.
BUSY_TIMEOUT_SECONDS = 5.0


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """Open a configured connection to the database at `path`.

    Only migrations may create the database (``create=True``). The server opens
    it read-write without creating it, so a wrong path shows up as an unhealthy
    /healthz rather than as a fresh, empty database.
    """
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    else:
        uri = path.resolve().as_uri() + "?mode=rw"
        conn = sqlite3.connect(uri, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, uri=True)
    try:
        conn.row_factory = sqlite3.Row
        # WAL is a property of the database file; asking again is a cheap no-op.
        conn.execute("PRAGMA journal_mode = WAL")
        # Foreign keys are off by default in SQLite and must be enabled per connection.
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def connection(path: Path, *, create: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection that is always closed on exit.

    ``sqlite3.Connection`` is itself a context manager, but it only commits or
    rolls back on exit; it does not close. This one does.
    """
    conn = connect(path, create=create)
    try:
        yield conn
    finally:
        conn.close()


class Transaction:
    """Handle for the transaction opened by :func:`transaction`."""

    def __init__(self) -> None:
        self.discarded = False

    def discard(self) -> None:
        """Roll back instead of committing when the block ends normally."""
        self.discarded = True


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[Transaction]:
    """Run the block in one write transaction: commit on success, roll back on error.

    ``BEGIN IMMEDIATE`` takes the write lock up front. Two checkouts therefore
    cannot both read the same stock level and both decrement it; the second
    waits (up to the busy timeout) until the first has committed.
    """
    conn.execute("BEGIN IMMEDIATE")
    tx = Transaction()
    try:
        yield tx
    except BaseException:
        # SQLite rolls back by itself after some errors (disk full, for
        # instance); a second ROLLBACK would then fail and mask the real error.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("ROLLBACK" if tx.discarded else "COMMIT")
