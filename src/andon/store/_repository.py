"""What every repository shares: one transaction per method, failures reported, the clock.

Each repository (``_projects``, ``_pipelines``, ``_jobs``, ...) subclasses :class:`Repository`
and runs each public method in one :meth:`Repository._transaction`, so a failure leaves no
half-written row; their records format times with :func:`iso_utc`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Row, Select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from andon.errors import UsageError
from andon.store._failures import reporting_unavailability

Clock = Callable[[], datetime]

RecordT = TypeVar("RecordT")


class Repository:
    """A repository over one store: its sessions, its URL for error messages, its clock."""

    def __init__(self, sessions: sessionmaker[Session], url: URL, clock: Clock) -> None:
        self._sessions = sessions
        self._url = url
        self._clock = clock

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A session in a transaction, committed on leaving and rolled back on an error;
        connection failures come out as StoreUnavailableError."""
        with reporting_unavailability(self._url), self._sessions.begin() as session:
            yield session

    def _fetch_all(
        self, query: Select[Any], record: Callable[[Row[Any]], RecordT]
    ) -> list[RecordT]:
        """Every row ``query`` selects, each made a record, in one transaction."""
        with self._transaction() as session:
            rows = session.execute(query).all()
        return [record(row) for row in rows]

    def _fetch_first(
        self, query: Select[Any], record: Callable[[Row[Any]], RecordT]
    ) -> RecordT | None:
        """The first row ``query`` selects as a record, or None when it selects none."""
        with self._transaction() as session:
            row = session.execute(query.limit(1)).first()
        return None if row is None else record(row)

    def _now(self) -> datetime:
        """The clock's time in UTC; checked before any write, so a bad clock writes nothing."""
        now = self._clock()
        if now.utcoffset() is None:
            raise ValueError(f"the store's clock must return timezone-aware datetimes, got {now!r}")
        return now.astimezone(UTC)

    def _given_or_now(self, at: datetime | None) -> datetime:
        """``at`` in UTC when the caller passed a time, else the clock's time."""
        return self._now() if at is None else aware_utc(at, "at")


def aware_utc(value: datetime, name: str) -> datetime:
    """``value`` in UTC; ValueError naming the argument when it is naive."""
    # The column type would refuse it too, but only once the statement runs and wrapped in
    # SQLAlchemy's error; refusing here names the argument.
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    """``value`` as ISO 8601 in UTC with a ``Z``, as every record's ``to_dict`` gives times."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_utc_or_none(value: datetime | None) -> str | None:
    """:func:`iso_utc` for a time that may be unset."""
    return None if value is None else iso_utc(value)


def check_limit(limit: int) -> int:
    """``limit`` when it is a usable row count; UsageError otherwise."""
    # SQLite reads a negative LIMIT as "no limit" and PostgreSQL refuses it; refuse on both.
    if limit < 1:
        raise UsageError(f"a list limit must be at least 1, not {limit}; pass a positive limit.")
    return limit
