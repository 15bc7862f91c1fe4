"""Registered projects: the ``ProjectRecord`` value and the ``ProjectRepository`` over them.

The server's project routes call the repository through ``store.projects``; each method is
one transaction, so a failure leaves no half-written row.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from andon.errors import ConflictError, NotFoundError, UsageError
from andon.store._failures import is_unique_violation
from andon.store._repository import Repository, iso_utc
from andon.store._tables import PROJECT_NAME_MAX_LENGTH, projects


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
            "created_at": iso_utc(self.created_at),
            "updated_at": iso_utc(self.updated_at),
        }


class ProjectRepository(Repository):
    """Adds, reads, updates and removes projects by name; reached as ``store.projects``."""

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
            with self._transaction() as session:
                row = session.execute(statement).one()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise ConflictError(
                f"a project named '{name}' exists already; choose another --name or remove "
                "it first."
            ) from exc
        return _record(row)

    def get(self, name: str) -> ProjectRecord:
        """The project called ``name``; NotFoundError if there is none."""
        found = self._fetch_first(select(projects).where(projects.c.name == name), _record)
        if found is None:
            raise _not_found(name)
        return found

    def list(self) -> builtins.list[ProjectRecord]:
        """Every project, ordered by name."""
        # Sorted here rather than by ORDER BY: PostgreSQL would order by the database's
        # collation and SQLite by code point, and the CLI should list the same on both.
        return sorted(self._fetch_all(select(projects), _record), key=lambda record: record.name)

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
        with self._transaction() as session:
            row = session.execute(statement).one_or_none()
        if row is None:
            raise _not_found(name)
        return _record(row)

    def remove(self, name: str) -> None:
        """Forget the project called ``name``; NotFoundError if there is none."""
        statement = delete(projects).where(projects.c.name == name).returning(projects.c.id)
        with self._transaction() as session:
            removed = session.execute(statement).one_or_none()
        if removed is None:
            raise _not_found(name)


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


def _record(row: Row[Any]) -> ProjectRecord:
    return ProjectRecord(**row._mapping)
