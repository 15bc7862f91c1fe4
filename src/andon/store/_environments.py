"""Environments: their fixed vocabulary (``EnvironmentKind``, ``EnvironmentStatus``), the
``EnvironmentRecord`` value and the ``EnvironmentRepository`` over them.

The environments engine records every transition of an environment through
``store.environments``; the TTL reaper asks it for the ones past their expiry, and the
drift checker stores what it found.

A name is unique within its project. Destroying an environment ends in status
``destroyed``; the row stays, so the dashboard can still show how it ended, until the
name is created again (which replaces the row) or the row is deleted.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, Final

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from andon.errors import ConflictError, NotFoundError
from andon.store._failures import is_unique_violation
from andon.store._repository import Repository, aware_utc, iso_utc, iso_utc_or_none
from andon.store._tables import environments
from andon.store._urls import redact_url


class EnvironmentKind(StrEnum):
    """Where an environment comes from."""

    # Declared in andon.yaml's ``environments``.
    DECLARED = "declared"
    # A copy made on demand (``--from``), removed when its TTL runs out.
    EPHEMERAL = "ephemeral"


class EnvironmentStatus(StrEnum):
    """Where an environment is in its life."""

    CREATING = "creating"
    READY = "ready"
    FAILED = "failed"
    DESTROYING = "destroying"
    # Its instances, files and database are gone; the row waits to be replaced or deleted.
    DESTROYED = "destroyed"


class _Unset(Enum):
    UNSET = "unset"


# Marks the fields ``update`` leaves alone: None is a value some of them may take.
_UNSET: Final = _Unset.UNSET


@dataclass(frozen=True, slots=True)
class EnvironmentRecord:
    """One environment of a project, as stored."""

    id: int
    project: str
    name: str
    kind: EnvironmentKind
    status: EnvironmentStatus
    artifact: str | None
    version: str | None
    url: str | None
    router_port: int | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    copied_from: str | None
    config_checksums: dict[str, str]
    database: dict[str, Any] | None
    drift: list[dict[str, Any]] | None
    drift_checked_at: datetime | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; datetimes as ISO 8601 in UTC with a ``Z``."""
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "kind": self.kind.value,
            "status": self.status.value,
            "artifact": self.artifact,
            "version": self.version,
            "url": self.url,
            "router_port": self.router_port,
            "created_at": iso_utc(self.created_at),
            "updated_at": iso_utc(self.updated_at),
            "expires_at": iso_utc_or_none(self.expires_at),
            "copied_from": self.copied_from,
            # Copies, so that a caller editing the result cannot change this record.
            "config_checksums": dict(self.config_checksums),
            "database": copy.deepcopy(self.database),
            "drift": copy.deepcopy(self.drift),
            "drift_checked_at": iso_utc_or_none(self.drift_checked_at),
            "message": self.message,
        }


class EnvironmentRepository(Repository):
    """Creates, reads, updates and deletes environments by project and name; reached as
    ``store.environments``."""

    def create(
        self,
        *,
        project: str,
        name: str,
        kind: EnvironmentKind,
        expires_at: datetime | None = None,
        copied_from: str | None = None,
        message: str = "",
    ) -> EnvironmentRecord:
        """A new environment in status ``creating``, created now. A destroyed one of the same
        name is replaced; ConflictError if another exists."""
        now = self._now()
        values: dict[str, Any] = {
            "project": project,
            "name": name,
            "kind": EnvironmentKind(kind).value,
            "status": EnvironmentStatus.CREATING.value,
            "created_at": now,
            "updated_at": now,
            "expires_at": None if expires_at is None else aware_utc(expires_at, "expires_at"),
            "copied_from": copied_from,
            "config_checksums": {},
            "database": None,
            "drift": None,
            "message": message,
        }
        try:
            with self._transaction() as session:
                session.execute(
                    delete(environments).where(
                        *_named(project, name),
                        environments.c.status == EnvironmentStatus.DESTROYED.value,
                    )
                )
                row = session.execute(
                    insert(environments).values(**values).returning(*environments.c)
                ).one()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            existing = self.get(project, name)
            raise ConflictError(
                f"environment {name} of {project} exists already ({existing.status.value}); "
                f"destroy it first or choose another name."
            ) from exc
        return _record(row)

    def get(self, project: str, name: str) -> EnvironmentRecord:
        """The environment ``name`` of ``project``; NotFoundError if there is none."""
        found = self._fetch_first(select(environments).where(*_named(project, name)), _record)
        if found is None:
            raise _not_found(project, name)
        return found

    def list(
        self,
        project: str | None = None,
        *,
        statuses: Iterable[EnvironmentStatus] | None = None,
    ) -> builtins.list[EnvironmentRecord]:
        """The environments of one project or of all, of the given statuses or of any,
        by project and name."""
        query = select(environments).order_by(environments.c.project, environments.c.name)
        if project is not None:
            query = query.where(environments.c.project == project)
        if statuses is not None:
            wanted = [EnvironmentStatus(status).value for status in statuses]
            query = query.where(environments.c.status.in_(wanted))
        return self._fetch_all(query, _record)

    def update(
        self,
        project: str,
        name: str,
        *,
        status: EnvironmentStatus | _Unset = _UNSET,
        artifact: str | _Unset | None = _UNSET,
        version: str | _Unset | None = _UNSET,
        url: str | _Unset | None = _UNSET,
        router_port: int | _Unset | None = _UNSET,
        expires_at: datetime | _Unset | None = _UNSET,
        config_checksums: Mapping[str, str] | _Unset = _UNSET,
        database: Mapping[str, Any] | _Unset | None = _UNSET,
        drift: Sequence[Mapping[str, Any]] | _Unset | None = _UNSET,
        drift_checked_at: datetime | _Unset | None = _UNSET,
        message: str | _Unset = _UNSET,
    ) -> EnvironmentRecord:
        """Change the given fields (None clears a nullable one) and leave the others;
        ``updated_at`` becomes now. NotFoundError if there is no such environment."""
        given: dict[str, Any] = {
            "artifact": artifact,
            "version": version,
            "url": url,
            "router_port": router_port,
            "message": message,
        }
        changes = {key: value for key, value in given.items() if value is not _UNSET}
        if not isinstance(status, _Unset):
            changes["status"] = EnvironmentStatus(status).value
        for key, when in (("expires_at", expires_at), ("drift_checked_at", drift_checked_at)):
            if not isinstance(when, _Unset):
                changes[key] = None if when is None else aware_utc(when, key)
        if not isinstance(config_checksums, _Unset):
            changes["config_checksums"] = dict(config_checksums)
        if not isinstance(database, _Unset):
            changes["database"] = None if database is None else _without_password(database)
        if not isinstance(drift, _Unset):
            changes["drift"] = None if drift is None else [dict(item) for item in drift]
        changes["updated_at"] = self._now()
        statement = (
            update(environments)
            .where(*_named(project, name))
            .values(**changes)
            .returning(*environments.c)
        )
        with self._transaction() as session:
            row = session.execute(statement).one_or_none()
        if row is None:
            raise _not_found(project, name)
        return _record(row)

    def delete(self, project: str, name: str) -> None:
        """Forget the environment ``name`` of ``project``; NotFoundError if there is none."""
        statement = delete(environments).where(*_named(project, name)).returning(environments.c.id)
        with self._transaction() as session:
            deleted = session.execute(statement).first()
        if deleted is None:
            raise _not_found(project, name)

    def expired(self, now: datetime) -> builtins.list[EnvironmentRecord]:
        """Environments whose expiry is at or before ``now`` and that are not destroyed yet,
        soonest expired first; those being destroyed are included, to finish the job."""
        query = (
            select(environments)
            .where(
                environments.c.expires_at <= aware_utc(now, "now"),
                environments.c.status != EnvironmentStatus.DESTROYED.value,
            )
            .order_by(environments.c.expires_at, environments.c.project, environments.c.name)
        )
        return self._fetch_all(query, _record)


def _named(project: str, name: str) -> tuple[Any, ...]:
    return (environments.c.project == project, environments.c.name == name)


def _without_password(database: Mapping[str, Any]) -> dict[str, Any]:
    # The row is shown to people and sent by the API; the service itself gets the URL with
    # its password from the engine, never from here.
    stored = dict(database)
    if isinstance(stored.get("url"), str):
        stored["url"] = redact_url(stored["url"])
    return stored


def _not_found(project: str, name: str) -> NotFoundError:
    return NotFoundError(
        f"no environment {name} in project {project}; 'andon env list' shows its environments."
    )


def _record(row: Row[Any]) -> EnvironmentRecord:
    values = dict(row._mapping)
    values["kind"] = EnvironmentKind(values["kind"])
    values["status"] = EnvironmentStatus(values["status"])
    return EnvironmentRecord(**values)
