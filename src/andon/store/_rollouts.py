"""Rollouts: their fixed vocabulary (``RolloutStatus``), the ``RolloutRecord`` value and the
``RolloutRepository`` over them.

The rollout reconciler creates a rollout through ``store.rollouts``, persists the engine's
state after every decision, and on start asks for the ``unfinished()`` ones to resume; undo
asks for the ``last_succeeded`` release.

The deploy lock: at most one rollout per environment is running or paused at a time. A
unique partial index keeps it, so two servers starting rollouts together cannot both win;
the loser gets a ConflictError that names the rollout in its way. Queued rollouts wait
outside the lock.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, Final

from sqlalchemy import ColumnElement, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from andon.errors import ConflictError, NotFoundError
from andon.store._failures import is_unique_violation
from andon.store._repository import Repository, aware_utc, check_limit, iso_utc, iso_utc_or_none
from andon.store._tables import rollouts


class RolloutStatus(StrEnum):
    """Where a rollout is in its life."""

    # Waits for the environment's deploy lock.
    QUEUED = "queued"
    RUNNING = "running"
    # Holds the deploy lock while it waits for a person or a timed pause step.
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    # The system returned all traffic to the old version.
    ROLLED_BACK = "rolled_back"
    # A person rolled it back, or cancelled it before it started.
    ABORTED = "aborted"
    # A deploy step failed before any traffic moved.
    FAILED = "failed"

    @property
    def active(self) -> bool:
        """True while the rollout holds its environment's deploy lock."""
        return self in {RolloutStatus.RUNNING, RolloutStatus.PAUSED}

    @property
    def finished(self) -> bool:
        """True once the rollout can change no more."""
        return self not in {RolloutStatus.QUEUED, RolloutStatus.RUNNING, RolloutStatus.PAUSED}


# Statuses are bound as their plain values: a driver may adapt an Enum by its name.
# _ACTIVE must match the condition of the deploy lock's index in ``_tables``.
_ACTIVE = (RolloutStatus.RUNNING.value, RolloutStatus.PAUSED.value)
_UNFINISHED = (RolloutStatus.QUEUED.value, *_ACTIVE)
_FINISHED = tuple(status.value for status in RolloutStatus if status.finished)


class _Unset(Enum):
    UNSET = "unset"


# Marks the fields ``update`` leaves alone: None is a value some of them may take.
_UNSET: Final = _Unset.UNSET


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    """One rollout of a release into an environment of a project, as stored."""

    id: int
    project: str
    environment: str
    status: RolloutStatus
    strategy: str
    # None on the environment's first deploy.
    from_version: str | None
    from_artifact: str | None
    to_version: str
    to_artifact: str
    # The commit shas the new release carries beyond the previous one.
    commits: list[str]
    # The rollout engine's state, exactly as it was given.
    state: dict[str, Any]
    message: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; datetimes as ISO 8601 in UTC with a ``Z``."""
        return {
            "id": self.id,
            "project": self.project,
            "environment": self.environment,
            "status": self.status.value,
            "strategy": self.strategy,
            "from_version": self.from_version,
            "from_artifact": self.from_artifact,
            "to_version": self.to_version,
            "to_artifact": self.to_artifact,
            # Copies, so that a caller editing the result cannot change this record.
            "commits": list(self.commits),
            "state": copy.deepcopy(self.state),
            "message": self.message,
            "created_by": self.created_by,
            "created_at": iso_utc(self.created_at),
            "updated_at": iso_utc(self.updated_at),
            "started_at": iso_utc_or_none(self.started_at),
            "finished_at": iso_utc_or_none(self.finished_at),
        }


class RolloutRepository(Repository):
    """Creates, reads and updates rollouts by id, under each environment's deploy lock;
    reached as ``store.rollouts``."""

    def create(
        self,
        *,
        project: str,
        environment: str,
        strategy: str,
        from_version: str | None,
        from_artifact: str | None,
        to_version: str,
        to_artifact: str,
        commits: Sequence[str],
        state: Mapping[str, Any],
        created_by: str,
        status: RolloutStatus = RolloutStatus.QUEUED,
        message: str = "",
    ) -> RolloutRecord:
        """A new rollout, created now, queued or running (then started now too).

        ConflictError when it would run while another rollout of the environment is
        running or paused.
        """
        status = RolloutStatus(status)
        if status not in {RolloutStatus.QUEUED, RolloutStatus.RUNNING}:
            raise ValueError(f"a rollout starts queued or running, not {status.value}")
        now = self._now()
        statement = (
            insert(rollouts)
            .values(
                project=project,
                environment=environment,
                status=status.value,
                strategy=strategy,
                from_version=from_version,
                from_artifact=from_artifact,
                to_version=to_version,
                to_artifact=to_artifact,
                commits=list(commits),
                state=dict(state),
                message=message,
                created_by=created_by,
                created_at=now,
                updated_at=now,
                started_at=now if status is RolloutStatus.RUNNING else None,
                finished_at=None,
            )
            .returning(*rollouts.c)
        )
        try:
            with self._transaction() as session:
                row = session.execute(statement).one()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise self._locked(project, environment) from exc
        return _record(row)

    def get(self, id: int) -> RolloutRecord:
        """The rollout numbered ``id``; NotFoundError if there is none."""
        found = self._fetch_first(select(rollouts).where(rollouts.c.id == id), _record)
        if found is None:
            raise _not_found(id)
        return found

    def update(
        self,
        id: int,
        *,
        status: RolloutStatus | _Unset = _UNSET,
        state: Mapping[str, Any] | _Unset = _UNSET,
        message: str | _Unset = _UNSET,
        started_at: datetime | _Unset | None = _UNSET,
        finished_at: datetime | _Unset | None = _UNSET,
    ) -> RolloutRecord:
        """Change the given fields (None clears a time) and leave the others; ``updated_at``
        becomes now.

        NotFoundError if there is no such rollout; ConflictError when it would become
        running or paused while another rollout of its environment is.
        """
        changes: dict[str, Any] = {}
        if not isinstance(status, _Unset):
            changes["status"] = RolloutStatus(status).value
        if not isinstance(state, _Unset):
            changes["state"] = dict(state)
        if not isinstance(message, _Unset):
            changes["message"] = message
        for key, when in (("started_at", started_at), ("finished_at", finished_at)):
            if not isinstance(when, _Unset):
                changes[key] = None if when is None else aware_utc(when, key)
        changes["updated_at"] = self._now()
        statement = (
            update(rollouts).where(rollouts.c.id == id).values(**changes).returning(*rollouts.c)
        )
        try:
            with self._transaction() as session:
                row = session.execute(statement).one_or_none()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            rollout = self.get(id)
            raise self._locked(rollout.project, rollout.environment) from exc
        if row is None:
            raise _not_found(id)
        return _record(row)

    def active(self, project: str, environment: str) -> RolloutRecord | None:
        """The running or paused rollout of the environment, which holds its deploy lock;
        None when there is none."""
        query = select(rollouts).where(*_of(project, environment), rollouts.c.status.in_(_ACTIVE))
        return self._fetch_first(query, _record)

    def next_queued(self, project: str, environment: str) -> RolloutRecord | None:
        """The oldest queued rollout of the environment, next to take its deploy lock."""
        query = (
            select(rollouts)
            .where(*_of(project, environment), rollouts.c.status == RolloutStatus.QUEUED.value)
            .order_by(rollouts.c.id)
        )
        return self._fetch_first(query, _record)

    def list(
        self, project: str | None = None, environment: str | None = None, limit: int = 50
    ) -> builtins.list[RolloutRecord]:
        """The newest ``limit`` rollouts, newest first, of one project or of all, and of one
        environment name or of any."""
        query = select(rollouts).order_by(rollouts.c.id.desc()).limit(check_limit(limit))
        if project is not None:
            query = query.where(rollouts.c.project == project)
        if environment is not None:
            query = query.where(rollouts.c.environment == environment)
        return self._fetch_all(query, _record)

    def history(
        self, project: str, environment: str, limit: int = 50
    ) -> builtins.list[RolloutRecord]:
        """The newest ``limit`` finished rollouts of the environment, newest first."""
        query = (
            select(rollouts)
            .where(*_of(project, environment), rollouts.c.status.in_(_FINISHED))
            .order_by(rollouts.c.id.desc())
            .limit(check_limit(limit))
        )
        return self._fetch_all(query, _record)

    def unfinished(self) -> builtins.list[RolloutRecord]:
        """Every queued, running or paused rollout of any environment, oldest first: what
        the reconciler resumes after a restart."""
        query = select(rollouts).where(rollouts.c.status.in_(_UNFINISHED)).order_by(rollouts.c.id)
        return self._fetch_all(query, _record)

    def last_succeeded(self, project: str, environment: str) -> RolloutRecord | None:
        """The newest rollout of the environment that succeeded: its last good release."""
        query = (
            select(rollouts)
            .where(*_of(project, environment), rollouts.c.status == RolloutStatus.SUCCEEDED.value)
            .order_by(rollouts.c.id.desc())
        )
        return self._fetch_first(query, _record)

    def _locked(self, project: str, environment: str) -> ConflictError:
        # Read after the failed write's transaction ended: the rollout in the way may have
        # finished meanwhile, and then the sentence names none.
        holder = self.active(project, environment)
        held = "" if holder is None else f" (#{holder.id}, {holder.status.value})"
        return ConflictError(
            f"environment {environment} of {project} has a rollout in progress{held}; "
            f"wait for it, or abort it with 'andon rollout abort {environment}'."
        )


def _of(project: str, environment: str) -> tuple[ColumnElement[bool], ...]:
    return (rollouts.c.project == project, rollouts.c.environment == environment)


def _not_found(id: int) -> NotFoundError:
    return NotFoundError(f"no rollout #{id}; 'andon rollout list' shows recent ones.")


def _record(row: Row[Any]) -> RolloutRecord:
    values = dict(row._mapping)
    values["status"] = RolloutStatus(values["status"])
    return RolloutRecord(**values)
