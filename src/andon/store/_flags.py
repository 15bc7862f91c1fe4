"""Flag sets and their history: the ``FlagSetRecord`` of each (project, environment), the
``FlagHistoryRecord`` of every change, and the ``FlagSetRepository`` over them.

The server's flag service reads a flag set, decides the change, and writes it back with
:meth:`FlagSetRepository.replace`: a compare-and-set on the version it read, in the same
transaction as the change's history entries. When another writer got there first the
write changes nothing and answers None, and the service decides again on what is there
now; so two changes never get the same version and none is lost.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from andon.store._failures import is_unique_violation
from andon.store._repository import Repository, aware_utc, check_limit, iso_utc, iso_utc_or_none
from andon.store._tables import flag_history, flag_sets


class FlagChangeKind(StrEnum):
    """What changed a flag."""

    # A deploy applied what andon.yaml declares.
    DECLARED = "declared"
    # A person, through the API or the CLI.
    SET = "set"
    KILLED = "killed"
    RESTORED = "restored"
    GUARD_TRIPPED = "guard_tripped"
    GUARD_RESTORED = "guard_restored"


def _empty_document() -> dict[str, Any]:
    return {"flags": {}}


@dataclass(frozen=True, slots=True)
class FlagSetContent:
    """What a flag set holds besides its version: each mapping is by flag key."""

    document: dict[str, Any] = field(default_factory=_empty_document)
    """The flagd document: ``flags``, ``$evaluators``, ``metadata``."""
    guards: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    declared: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What andon.yaml declared for each flag when it was last applied."""
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What a deploy declared but left alone, because the flag had been changed by hand."""
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The flag as it was before a kill or a guard set it aside."""

    def copy(self) -> FlagSetContent:
        """A deep copy the caller may change."""
        return FlagSetContent(**{name: copy.deepcopy(getattr(self, name)) for name in _CONTENT})


_CONTENT = ("document", "guards", "experiments", "declared", "conflicts", "held")


@dataclass(frozen=True, slots=True)
class FlagSetRecord:
    """The flag set of one environment; version 0, empty, before its first change."""

    project: str
    environment: str
    version: int
    content: FlagSetContent
    updated_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; the time as ISO 8601 in UTC with a ``Z``."""
        return {
            "project": self.project,
            "environment": self.environment,
            "version": self.version,
            **{name: copy.deepcopy(getattr(self.content, name)) for name in _CONTENT},
            "updated_at": iso_utc_or_none(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class NewFlagHistory:
    """One flag's part in a change, to record."""

    kind: FlagChangeKind
    flag: str
    actor: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FlagHistoryRecord:
    """One flag's part in one change of a flag set, as stored."""

    id: int
    project: str
    environment: str
    version: int
    at: datetime
    actor: str
    reason: str
    kind: FlagChangeKind
    flag: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; the time as ISO 8601 in UTC with a ``Z``."""
        return {
            "id": self.id,
            "version": self.version,
            "at": iso_utc(self.at),
            "actor": self.actor,
            "reason": self.reason,
            "kind": self.kind.value,
            "flag": self.flag,
            "before": copy.deepcopy(self.before),
            "after": copy.deepcopy(self.after),
            "evidence": copy.deepcopy(self.evidence),
        }


class FlagSetRepository(Repository):
    """Reads and changes (compare-and-set on the version) each environment's flag set,
    and keeps its history; reached as ``store.flags``."""

    def get(self, project: str, environment: str) -> FlagSetRecord:
        """The environment's flag set; an empty one at version 0 if it never changed."""
        found = self._fetch_first(select(flag_sets).where(*_of(project, environment)), _record)
        if found is None:
            return FlagSetRecord(project, environment, 0, FlagSetContent(), None)
        return found

    def version(self, project: str, environment: str) -> int:
        """The environment's flag-set version (0 before its first change), read alone."""
        query = select(flag_sets.c.version).where(*_of(project, environment))
        with self._transaction() as session:
            found = session.execute(query).scalar()
        return int(found or 0)

    def replace(
        self,
        project: str,
        environment: str,
        *,
        expected_version: int,
        content: FlagSetContent,
        history: Sequence[NewFlagHistory],
        at: datetime | None = None,
    ) -> FlagSetRecord | None:
        """Write ``content`` as version ``expected_version + 1`` with its ``history``, in
        one transaction, if the flag set is still at ``expected_version``; None, having
        written nothing, when another change came first."""
        now = self._given_or_now(at)
        version = expected_version + 1
        values = {name: copy.deepcopy(getattr(content, name)) for name in _CONTENT}
        values.update(version=version, updated_at=now)
        try:
            with self._transaction() as session:
                # The write comes first: on SQLite it takes the write lock before any read,
                # so a concurrent writer waits instead of failing.
                row: Row[Any] | None
                if expected_version == 0:
                    row = session.execute(
                        insert(flag_sets)
                        .values(project=project, environment=environment, **values)
                        .returning(*flag_sets.c)
                    ).one()
                else:
                    row = session.execute(
                        update(flag_sets)
                        .where(*_of(project, environment), flag_sets.c.version == expected_version)
                        .values(**values)
                        .returning(*flag_sets.c)
                    ).one_or_none()
                    if row is None:
                        return None
                self._append(session, (project, environment, version, now), history)
        except IntegrityError as exc:
            # Two first changes of one flag set: the loser tries again over the winner's.
            if not is_unique_violation(exc):
                raise
            return None
        assert row is not None
        return _record(row)

    def note(
        self,
        project: str,
        environment: str,
        entries: Sequence[NewFlagHistory],
        *,
        at: datetime | None = None,
    ) -> int:
        """Record ``entries`` that change no flag (a guard an SDK tripped locally) at the
        flag set's current version, which it answers."""
        now = self._given_or_now(at)
        with self._transaction() as session:
            found = session.execute(
                select(flag_sets.c.version).where(*_of(project, environment))
            ).scalar()
            version = int(found or 0)
            self._append(session, (project, environment, version, now), entries)
        return version

    def history(
        self, project: str, environment: str, *, flag: str | None = None, limit: int = 100
    ) -> builtins.list[FlagHistoryRecord]:
        """The newest ``limit`` history entries of the environment (of one flag), newest
        first."""
        query = (
            select(flag_history)
            .where(flag_history.c.project == project, flag_history.c.environment == environment)
            .order_by(flag_history.c.id.desc())
            .limit(check_limit(limit))
        )
        if flag is not None:
            query = query.where(flag_history.c.flag == flag)
        return self._fetch_all(query, _history_record)

    @staticmethod
    def _append(
        session: Any, where: tuple[str, str, int, datetime], entries: Sequence[NewFlagHistory]
    ) -> None:
        """Insert ``entries`` for (project, environment, version, at)."""
        if not entries:
            return
        project, environment, version, at = where
        session.execute(
            insert(flag_history),
            [
                {
                    "project": project,
                    "environment": environment,
                    "version": version,
                    "at": aware_utc(at, "at"),
                    "actor": entry.actor,
                    "reason": entry.reason,
                    "kind": FlagChangeKind(entry.kind).value,
                    "flag": entry.flag,
                    "before": copy.deepcopy(entry.before),
                    "after": copy.deepcopy(entry.after),
                    "evidence": dict(entry.evidence),
                }
                for entry in entries
            ],
        )


def _of(project: str, environment: str) -> tuple[Any, ...]:
    return (flag_sets.c.project == project, flag_sets.c.environment == environment)


def _record(row: Row[Any]) -> FlagSetRecord:
    values = row._mapping
    return FlagSetRecord(
        project=values["project"],
        environment=values["environment"],
        version=values["version"],
        content=FlagSetContent(**{name: values[name] for name in _CONTENT}),
        updated_at=values["updated_at"],
    )


def _history_record(row: Row[Any]) -> FlagHistoryRecord:
    values = dict(row._mapping)
    values["kind"] = FlagChangeKind(values["kind"])
    return FlagHistoryRecord(**values)
