"""The line of each project, as an append-only log of events: ``LineEventRecord`` and the
``LineEventRepository`` over it.

The pipeline runner and the line API append what the line's deciders return through
``store.line``; the newest event of a project is its line's current state.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select

from andon.store._repository import Repository, check_limit, iso_utc
from andon.store._statuses import LineState
from andon.store._tables import line_events


@dataclass(frozen=True, slots=True)
class LineEventRecord:
    """One change of a project's line: the state after it, why, and who made it."""

    id: int
    project: str
    state: LineState
    # pipeline or manual.
    cause: str
    reason: str
    actor: str
    commit: str | None
    pipeline_id: int | None
    # E.g. the failing jobs and tests of the pipeline that stopped the line.
    details: dict[str, Any]
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; datetimes as ISO 8601 in UTC with a ``Z``."""
        return {
            "id": self.id,
            "project": self.project,
            "state": self.state.value,
            "cause": self.cause,
            "reason": self.reason,
            "actor": self.actor,
            "commit": self.commit,
            "pipeline_id": self.pipeline_id,
            # A copy, so that a caller editing the result cannot change this record.
            "details": copy.deepcopy(self.details),
            "at": iso_utc(self.at),
        }


class LineEventRepository(Repository):
    """Appends and reads the line's events per project; reached as ``store.line``."""

    def append(
        self,
        *,
        project: str,
        state: LineState,
        cause: str,
        reason: str,
        actor: str,
        commit: str | None = None,
        pipeline_id: int | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> LineEventRecord:
        """Record that the line of ``project`` is now in ``state``, at ``at`` or now."""
        statement = (
            insert(line_events)
            .values(
                project=project,
                state=LineState(state).value,
                cause=cause,
                reason=reason,
                actor=actor,
                commit=commit,
                pipeline_id=pipeline_id,
                details=dict(details or {}),
                at=self._given_or_now(at),
            )
            .returning(*line_events.c)
        )
        with self._transaction() as session:
            return _record(session.execute(statement).one())

    def current(self, project: str) -> LineEventRecord | None:
        """The newest event of ``project``, which holds its line's state; None before any."""
        history = self.history(project, limit=1)
        return history[0] if history else None

    def history(self, project: str, limit: int = 50) -> list[LineEventRecord]:
        """The newest ``limit`` events of ``project``, newest first."""
        # By id, not by ``at``: events may carry a caller's time, but the last one appended
        # is the line's state.
        query = (
            select(line_events)
            .where(line_events.c.project == project)
            .order_by(line_events.c.id.desc())
            .limit(check_limit(limit))
        )
        return self._fetch_all(query, _record)


def _record(row: Row[Any]) -> LineEventRecord:
    values = dict(row._mapping)
    values["state"] = LineState(values["state"])
    return LineEventRecord(**values)
