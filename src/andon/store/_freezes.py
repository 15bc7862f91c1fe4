"""Freeze windows: times during which rollouts to an environment are refused unless a
person breaks the glass with a reason — the ``FreezeRepository``."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update

from andon.errors import NotFoundError
from andon.store._repository import Repository, aware_utc, iso_utc, iso_utc_or_none
from andon.store._tables import freezes


@dataclass(frozen=True, slots=True)
class FreezeRecord:
    """A freeze window of one environment."""

    id: int
    project: str
    environment: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    lifted_at: datetime | None

    def active(self, now: datetime) -> bool:
        """Whether the window holds at ``now``."""
        return self.lifted_at is None and self.starts_at <= now < self.ends_at

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "environment": self.environment,
            "starts_at": iso_utc(self.starts_at),
            "ends_at": iso_utc(self.ends_at),
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": iso_utc(self.created_at),
            "lifted_at": iso_utc_or_none(self.lifted_at),
            "active": self.active(now),
        }


class FreezeRepository(Repository):
    """Creates, lists and lifts freeze windows; reached as ``store.freezes``."""

    def create(
        self,
        *,
        project: str,
        environment: str,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
        by: str,
    ) -> FreezeRecord:
        statement = (
            insert(freezes)
            .values(
                project=project,
                environment=environment,
                starts_at=aware_utc(starts_at, "starts_at"),
                ends_at=aware_utc(ends_at, "ends_at"),
                reason=reason,
                created_by=by,
                created_at=self._now(),
            )
            .returning(*freezes.c)
        )
        with self._transaction() as session:
            row = session.execute(statement).one()
        return _freeze(row)

    def list(
        self, project: str, environment: str | None = None, *, since: datetime | None = None
    ) -> builtins.list[FreezeRecord]:
        """The project's windows (of one environment), by start; with ``since``, only those
        not lifted that end after it."""
        query = select(freezes).where(freezes.c.project == project).order_by(freezes.c.starts_at)
        if environment is not None:
            query = query.where(freezes.c.environment == environment)
        if since is not None:
            query = query.where(
                freezes.c.ends_at > aware_utc(since, "since"), freezes.c.lifted_at.is_(None)
            )
        return self._fetch_all(query, _freeze)

    def active(self, project: str, environment: str, now: datetime) -> builtins.list[FreezeRecord]:
        """The windows that hold for the environment at ``now``."""
        return [f for f in self.list(project, environment, since=now) if f.active(now)]

    def lift(self, project: str, environment: str, freeze_id: int) -> FreezeRecord:
        """End window ``freeze_id`` of the environment now; NotFoundError if it has no
        such window."""
        with self._transaction() as session:
            row = session.execute(
                update(freezes)
                .where(
                    freezes.c.id == freeze_id,
                    freezes.c.project == project,
                    freezes.c.environment == environment,
                    freezes.c.lifted_at.is_(None),
                )
                .values(lifted_at=self._now())
                .returning(*freezes.c)
            ).one_or_none()
            if row is None:
                row = session.execute(
                    select(freezes).where(
                        freezes.c.id == freeze_id,
                        freezes.c.project == project,
                        freezes.c.environment == environment,
                    )
                ).one_or_none()
        if row is None:
            raise NotFoundError(
                f"environment {environment} of {project} has no freeze window #{freeze_id}; "
                f"'andon freeze list {environment}' lists them."
            )
        return _freeze(row)


def _freeze(row: Row[Any]) -> FreezeRecord:
    return FreezeRecord(**dict(row._mapping))
