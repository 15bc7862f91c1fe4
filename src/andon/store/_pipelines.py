"""Pipelines: the ``PipelineRecord`` value and the ``PipelineRepository`` over them.

The pipeline scheduler creates and updates pipelines through ``store.pipelines``, the line
asks it for the last finished and last green trunk pipeline, and the API lists them.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update

from andon.errors import NotFoundError
from andon.store._repository import Repository, aware_utc, check_limit, iso_utc, iso_utc_or_none
from andon.store._statuses import PipelineStatus
from andon.store._tables import pipelines

# Statuses are bound as their plain values: a driver may adapt an Enum by its name.
_DECIDED = (PipelineStatus.SUCCESS.value, PipelineStatus.FAILED.value)
_UNFINISHED = (PipelineStatus.QUEUED.value, PipelineStatus.RUNNING.value)


@dataclass(frozen=True, slots=True)
class PipelineRecord:
    """One pipeline run for one commit of a project, as stored."""

    id: int
    project: str
    commit: str
    branch: str
    # poll, hook, manual or rerun.
    trigger: str
    status: PipelineStatus
    error: str | None
    rerun_of: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    artifact: str | None
    on_trunk: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; datetimes as ISO 8601 in UTC with a ``Z``."""
        return {
            "id": self.id,
            "project": self.project,
            "commit": self.commit,
            "branch": self.branch,
            "trigger": self.trigger,
            "status": self.status.value,
            "error": self.error,
            "rerun_of": self.rerun_of,
            "created_at": iso_utc(self.created_at),
            "started_at": iso_utc_or_none(self.started_at),
            "finished_at": iso_utc_or_none(self.finished_at),
            "artifact": self.artifact,
            "on_trunk": self.on_trunk,
        }


class PipelineRepository(Repository):
    """Creates, reads and updates pipelines by id; reached as ``store.pipelines``."""

    def create(
        self,
        *,
        project: str,
        commit: str,
        branch: str,
        trigger: str,
        on_trunk: bool,
        rerun_of: int | None = None,
    ) -> PipelineRecord:
        """A new queued pipeline, created now; its id is higher than every earlier one's."""
        statement = (
            insert(pipelines)
            .values(
                project=project,
                commit=commit,
                branch=branch,
                trigger=trigger,
                status=PipelineStatus.QUEUED.value,
                rerun_of=rerun_of,
                created_at=self._now(),
                on_trunk=on_trunk,
            )
            .returning(*pipelines.c)
        )
        with self._transaction() as session:
            return _record(session.execute(statement).one())

    def get(self, id: int) -> PipelineRecord:
        """The pipeline numbered ``id``; NotFoundError if there is none."""
        found = self._fetch_first(select(pipelines).where(pipelines.c.id == id), _record)
        if found is None:
            raise pipeline_not_found(id)
        return found

    def list(
        self,
        *,
        project: str | None = None,
        limit: int = 50,
        statuses: Iterable[PipelineStatus] | None = None,
    ) -> builtins.list[PipelineRecord]:
        """The newest ``limit`` pipelines, newest first, of one project or of all, and of the
        given statuses or of any."""
        query = select(pipelines).order_by(pipelines.c.id.desc()).limit(check_limit(limit))
        if project is not None:
            query = query.where(pipelines.c.project == project)
        if statuses is not None:
            query = query.where(pipelines.c.status.in_([PipelineStatus(s).value for s in statuses]))
        return self._fetch_all(query, _record)

    def update(
        self,
        id: int,
        *,
        status: PipelineStatus | None = None,
        error: str | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        artifact: str | None = None,
    ) -> PipelineRecord:
        """Change the given fields and leave the others; NotFoundError if there is no such
        pipeline."""
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = PipelineStatus(status).value
        if error is not None:
            changes["error"] = error
        if started_at is not None:
            changes["started_at"] = aware_utc(started_at, "started_at")
        if finished_at is not None:
            changes["finished_at"] = aware_utc(finished_at, "finished_at")
        if artifact is not None:
            changes["artifact"] = artifact
        if not changes:
            return self.get(id)
        statement = (
            update(pipelines).where(pipelines.c.id == id).values(**changes).returning(*pipelines.c)
        )
        with self._transaction() as session:
            row = session.execute(statement).one_or_none()
        if row is None:
            raise pipeline_not_found(id)
        return _record(row)

    def latest_for_commit(self, project: str, commit: str) -> PipelineRecord | None:
        """The newest pipeline of ``project`` for ``commit``, or None."""
        query = (
            select(pipelines)
            .where(pipelines.c.project == project, pipelines.c.commit == commit)
            .order_by(pipelines.c.id.desc())
        )
        return self._fetch_first(query, _record)

    def artifact_for_commit(self, project: str, commit: str) -> str | None:
        """The artifact digest the newest pipeline of ``commit`` built or reused, or None.

        Artifacts are content-addressed: a commit whose files match an earlier commit's
        shares that commit's artifact record, so this, not the artifacts table, tells
        which artifact a commit has.
        """
        query = (
            select(pipelines)
            .where(
                pipelines.c.project == project,
                pipelines.c.commit == commit,
                pipelines.c.artifact.is_not(None),
            )
            .order_by(pipelines.c.id.desc())
        )
        found = self._fetch_first(query, _record)
        return found.artifact if found is not None else None

    def last_finished_on_trunk(self, project: str) -> PipelineRecord | None:
        """The trunk pipeline of ``project`` that passed or failed last, or None.

        Trunk is green or red by this pipeline; canceled and interrupted ones say nothing
        about the code and are passed over.
        """
        query = (
            select(pipelines)
            .where(
                pipelines.c.project == project,
                pipelines.c.on_trunk.is_(True),
                pipelines.c.status.in_(_DECIDED),
            )
            # NULLS LAST on both: PostgreSQL would otherwise put unset times first.
            .order_by(pipelines.c.finished_at.desc().nulls_last(), pipelines.c.id.desc())
        )
        return self._fetch_first(query, _record)

    def last_green_on_trunk(self, project: str) -> PipelineRecord | None:
        """The newest trunk pipeline of ``project`` that passed, or None.

        Newest by creation rather than by finish: of two green pipelines that finished out
        of order, the later commit is the last known-good one.
        """
        query = (
            select(pipelines)
            .where(
                pipelines.c.project == project,
                pipelines.c.on_trunk.is_(True),
                pipelines.c.status == PipelineStatus.SUCCESS.value,
            )
            .order_by(pipelines.c.id.desc())
        )
        return self._fetch_first(query, _record)

    def unfinished(self) -> builtins.list[PipelineRecord]:
        """Every queued or running pipeline of any project, oldest first."""
        query = (
            select(pipelines).where(pipelines.c.status.in_(_UNFINISHED)).order_by(pipelines.c.id)
        )
        return self._fetch_all(query, _record)

    def known_commits(self, project: str, *, on_trunk: bool | None = None) -> set[str]:
        """Every commit that ``project`` has had a pipeline for (only trunk pipelines, or
        only branch ones, when ``on_trunk`` says so)."""
        query = select(pipelines.c.commit).where(pipelines.c.project == project).distinct()
        if on_trunk is not None:
            query = query.where(pipelines.c.on_trunk == on_trunk)
        with self._transaction() as session:
            return set(session.scalars(query))


def pipeline_not_found(id: int) -> NotFoundError:
    """The error for a pipeline id that names no pipeline."""
    return NotFoundError(f"no pipeline #{id}; 'andon pipeline list' shows recent ones.")


def _record(row: Row[Any]) -> PipelineRecord:
    values = dict(row._mapping)
    values["status"] = PipelineStatus(values["status"])
    return PipelineRecord(**values)
