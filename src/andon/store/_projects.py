"""Registered projects: the ``ProjectRecord`` value and the ``ProjectRepository`` over them.

The server's project routes call the repository through ``store.projects``; each method is
one transaction, so a failure leaves no half-written row.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from andon.errors import ConflictError, NotFoundError, UsageError
from andon.store._failures import reporting_unavailability
from andon.store._tables import PROJECT_NAME_MAX_LENGTH, projects

Clock = Callable[[], datetime]

_UNIQUE_VIOLATION_SQLSTATE = "23505"


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    """One registered project, as stored: where its andon.yaml lives and what it said."""

    id: int
    name: str
    source: str
    subdir: str
    trunk: str
    service: str
    commit: str
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; datetimes as ISO 8601 in UTC with a ``Z``."""
        return {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "subdir": self.subdir,
            "trunk": self.trunk,
            "service": self.service,
            "commit": self.commit,
            # A copy, so that a caller editing the result cannot change this record.
            "spec": copy.deepcopy(self.spec),
            "created_at": _iso_utc(self.created_at),
            "updated_at": _iso_utc(self.updated_at),
        }


class ProjectRepository:
    """Adds, reads, updates and removes projects by name; reached as ``store.projects``."""

    def __init__(self, sessions: sessionmaker[Session], url: URL, clock: Clock) -> None:
        self._sessions = sessions
        self._url = url
        self._clock = clock

    def add(
        self,
        *,
        name: str,
        source: str,
        subdir: str,
        trunk: str,
        service: str,
        commit: str,
        spec: Mapping[str, Any],
    ) -> ProjectRecord:
        """Register a project; ConflictError if the name is taken."""
        _check_name(name)
        now = self._now()
        statement = (
            insert(projects)
            .values(
                name=name,
                source=source,
                subdir=subdir,
                trunk=trunk,
                service=service,
                commit=commit,
                spec=dict(spec),
                created_at=now,
                updated_at=now,
            )
            .returning(*projects.c)
        )
        # The unique constraint decides, not a prior SELECT: two concurrent adds of the same
        # name would both pass a check and the second would still fail here.
        try:
            with reporting_unavailability(self._url), self._sessions.begin() as session:
                row = session.execute(statement).one()
        except IntegrityError as exc:
            if not _is_unique_violation(exc):
                raise
            raise ConflictError(
                f"a project named '{name}' exists already; choose another --name or remove "
                "it first."
            ) from exc
        return _record(row)

    def get(self, name: str) -> ProjectRecord:
        """The project called ``name``; NotFoundError if there is none."""
        with reporting_unavailability(self._url), self._sessions.begin() as session:
            row = session.execute(select(projects).where(projects.c.name == name)).one_or_none()
        if row is None:
            raise _not_found(name)
        return _record(row)

    def list(self) -> builtins.list[ProjectRecord]:
        """Every project, ordered by name."""
        with reporting_unavailability(self._url), self._sessions.begin() as session:
            rows = session.execute(select(projects)).all()
        # Sorted here rather than by ORDER BY: PostgreSQL would order by the database's
        # collation and SQLite by code point, and the CLI should list the same on both.
        return sorted((_record(row) for row in rows), key=lambda record: record.name)

    def update_spec(
        self, name: str, *, commit: str, spec: Mapping[str, Any], service: str
    ) -> ProjectRecord:
        """Record the spec read at ``commit``; NotFoundError if there is no such project."""
        statement = (
            update(projects)
            .where(projects.c.name == name)
            .values(commit=commit, spec=dict(spec), service=service, updated_at=self._now())
            .returning(*projects.c)
        )
        with reporting_unavailability(self._url), self._sessions.begin() as session:
            row = session.execute(statement).one_or_none()
        if row is None:
            raise _not_found(name)
        return _record(row)

    def remove(self, name: str) -> None:
        """Forget the project called ``name``; NotFoundError if there is none."""
        statement = delete(projects).where(projects.c.name == name).returning(projects.c.id)
        with reporting_unavailability(self._url), self._sessions.begin() as session:
            removed = session.execute(statement).one_or_none()
        if removed is None:
            raise _not_found(name)

    def _now(self) -> datetime:
        now = self._clock()
        if now.utcoffset() is None:
            raise ValueError(f"the store's clock must return timezone-aware datetimes, got {now!r}")
        return now.astimezone(UTC)


def _check_name(name: str) -> None:
    # PostgreSQL would reject a longer name and SQLite would keep it; refuse on both.
    if not name or len(name) > PROJECT_NAME_MAX_LENGTH:
        raise UsageError(
            f"a project name has 1 to {PROJECT_NAME_MAX_LENGTH} characters, not {len(name)}; "
            "choose another --name."
        )


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(
        f"no project named '{name}'; 'andon project list' shows the registered ones."
    )


def _is_unique_violation(exc: IntegrityError) -> bool:
    # The name is the only unique column, but a NOT NULL violation is an IntegrityError too
    # and must not be reported as "exists already".
    if getattr(exc.orig, "sqlstate", None) == _UNIQUE_VIOLATION_SQLSTATE:
        return True
    return "UNIQUE constraint failed" in str(exc.orig)


def _record(row: Row[Any]) -> ProjectRecord:
    return ProjectRecord(**row._mapping)


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
