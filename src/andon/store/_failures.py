"""Turning driver failures into one-line ``StoreUnavailableError`` sentences, and telling
a unique-constraint violation from other integrity errors.

``open_store`` and the repositories run database work inside :func:`reporting_unavailability`,
so a stopped server, a wrong host or an unopenable SQLite file reaches the CLI and the API as
a temporary error that names the place (never the password) and says what to check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from andon.errors import StoreUnavailableError
from andon.store._urls import MASK, describe_location

# psycopg prefixes libpq's reason with where it tried: 'connection failed: connection to
# server at "127.0.0.1", port 1 failed: Connection refused'; the place is said separately.
_LIBPQ_PREFIX = re.compile(r"^.*\bfailed:\s*")
_SEVERITY = re.compile(r"^(?:FATAL|ERROR|PANIC):\s*")
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")

_UNIQUE_VIOLATION_SQLSTATE = "23505"


@contextmanager
def reporting_unavailability(url: URL) -> Iterator[None]:
    """Re-raise connection-level failures inside the block as StoreUnavailableError."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise unavailable(url, _driver_reason(exc, url)) from exc
    except DBAPIError as exc:
        # Other driver errors are bugs or constraint violations, unless the connection
        # itself died underneath the statement.
        if not exc.connection_invalidated:
            raise
        raise unavailable(url, _driver_reason(exc, url)) from exc
    except OSError as exc:
        # Raised before any driver runs, e.g. the SQLite file's directory cannot be made.
        raise unavailable(url, (exc.strerror or str(exc)).lower()) from exc


def unavailable(url: URL, reason: str) -> StoreUnavailableError:
    """The error for a database at ``url`` that fails for ``reason``."""
    where = describe_location(url)
    if url.get_backend_name() == "sqlite":
        return StoreUnavailableError(
            f"cannot open the database at {where} ({reason}); check ANDON_DATABASE_URL and "
            "that its directory is writable."
        )
    return StoreUnavailableError(
        f"cannot reach the database at {where} ({reason}); check ANDON_DATABASE_URL and "
        "that the server is running."
    )


def is_unique_violation(exc: IntegrityError) -> bool:
    """True when ``exc`` broke a unique constraint, on PostgreSQL or SQLite."""
    # A NOT NULL or foreign-key violation is an IntegrityError too, and must not be reported
    # as "exists already".
    if getattr(exc.orig, "sqlstate", None) == _UNIQUE_VIOLATION_SQLSTATE:
        return True
    return "UNIQUE constraint failed" in str(exc.orig)


def _driver_reason(exc: DBAPIError, url: URL) -> str:
    """libpq's or SQLite's reason, cut to one short line with no secret in it."""
    lines = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
    reason = _ERRNO.sub("", _SEVERITY.sub("", _LIBPQ_PREFIX.sub("", lines[0].strip())))
    reason = " ".join(reason.split()).rstrip(".")
    # A driver may echo its connection string (e.g. on a malformed DSN).
    if url.password:
        reason = reason.replace(str(url.password), MASK)
    if reason[:1].isupper() and reason[1:2].islower():
        reason = reason[0].lower() + reason[1:]
    return reason or "no reason given"
