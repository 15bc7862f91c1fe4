"""Job runs of a pipeline: ``NewJob`` to plan them, ``JobRecord`` as stored, and the
``JobRepository`` over them.

The pipeline scheduler creates a pipeline's jobs once, when it plans the pipeline, and updates
each as it runs; the job cache asks ``find_cached`` for an earlier success to reuse.
"""

from __future__ import annotations

import builtins
import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from andon.errors import ConflictError, NotFoundError
from andon.store._engine import WRITE_LOCK_OPTION
from andon.store._failures import is_unique_violation
from andon.store._pipelines import pipeline_not_found
from andon.store._repository import Repository, aware_utc, iso_utc_or_none
from andon.store._statuses import JobStatus
from andon.store._tables import jobs as job_runs
from andon.store._tables import pipelines


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job run to create: ``name`` is unique in its pipeline (``unit[1/2]``), ``job`` is the
    spec job it runs (``unit``), ``needs`` the names of the jobs it waits for."""

    name: str
    job: str
    stage: str
    shard_index: int = 0
    shard_total: int = 1
    needs: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job run of a pipeline, as stored."""

    id: int
    pipeline_id: int
    name: str
    job: str
    # build, test, jobs or package.
    stage: str
    shard_index: int
    shard_total: int
    needs: tuple[str, ...]
    status: JobStatus
    # A sentence for people: "exit code 1", "timed out after 5m"; '' while there is none.
    reason: str
    exit_code: int | None
    attempts: int
    cache_key: str | None
    # The id of the job whose result this one reuses.
    cached_from: int | None
    started_at: datetime | None
    finished_at: datetime | None
    log_path: str | None
    # The summary of the job's test report, if it wrote one.
    tests: dict[str, Any] | None
    # Tests that failed and then passed on a retry.
    flaky: tuple[str, ...]

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, or None until the job has both."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; datetimes as ISO 8601 in UTC with a ``Z``."""
        return {
            "id": self.id,
            "pipeline_id": self.pipeline_id,
            "name": self.name,
            "job": self.job,
            "stage": self.stage,
            "shard_index": self.shard_index,
            "shard_total": self.shard_total,
            "needs": list(self.needs),
            "status": self.status.value,
            "reason": self.reason,
            "exit_code": self.exit_code,
            "attempts": self.attempts,
            "cache_key": self.cache_key,
            "cached_from": self.cached_from,
            "started_at": iso_utc_or_none(self.started_at),
            "finished_at": iso_utc_or_none(self.finished_at),
            "duration": self.duration,
            "log_path": self.log_path,
            # A copy, so that a caller editing the result cannot change this record.
            "tests": copy.deepcopy(self.tests),
            "flaky": list(self.flaky),
        }


class JobRepository(Repository):
    """Creates, reads and updates the job runs of pipelines; reached as ``store.jobs``."""

    def create_many(self, pipeline_id: int, jobs: Sequence[NewJob]) -> builtins.list[JobRecord]:
        """Create the pending jobs of a pipeline, all or none, in the order given.

        NotFoundError if there is no such pipeline; ConflictError if two of the jobs share a
        name or the pipeline has jobs of these names already.
        """
        names = [job.name for job in jobs]
        repeated = sorted(name for name, count in Counter(names).items() if count > 1)
        if repeated:
            raise ConflictError(
                f"pipeline #{pipeline_id} cannot have two jobs named {', '.join(repeated)}; "
                "give each shard and job a name of its own."
            )
        rows = [_new_row(pipeline_id, job) for job in jobs]
        # Ordered by the rows given, so that the records come back in creation order.
        statement = insert(job_runs).returning(*job_runs.c, sort_by_parameter_order=True)
        try:
            with self._transaction() as session:
                # A read, then writes: on SQLite the write lock is taken first, or another
                # writer's commit in between fails this at once ("database is locked").
                session.connection(execution_options={WRITE_LOCK_OPTION: True})
                exists = select(pipelines.c.id).where(pipelines.c.id == pipeline_id)
                if session.execute(exists).one_or_none() is None:
                    raise pipeline_not_found(pipeline_id)
                created = session.execute(statement, rows).all() if rows else []
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise ConflictError(
                f"pipeline #{pipeline_id} has jobs of these names already; a pipeline's jobs "
                "are created once, when it is planned."
            ) from exc
        return [_record(row) for row in created]

    def get(self, id: int) -> JobRecord:
        """The job numbered ``id``; NotFoundError if there is none."""
        found = self._fetch_first(select(job_runs).where(job_runs.c.id == id), _record)
        if found is None:
            raise _not_found(id)
        return found

    def get_by_name(self, pipeline_id: int, name: str) -> JobRecord:
        """The job called ``name`` in the pipeline; NotFoundError if there is none."""
        query = select(job_runs).where(
            job_runs.c.pipeline_id == pipeline_id, job_runs.c.name == name
        )
        found = self._fetch_first(query, _record)
        if found is None:
            raise NotFoundError(
                f"pipeline #{pipeline_id} has no job named '{name}'; 'andon pipeline show "
                f"{pipeline_id}' lists its jobs."
            )
        return found

    def list_for_pipeline(self, pipeline_id: int) -> builtins.list[JobRecord]:
        """The jobs of a pipeline in the order they were created; [] for an unknown one."""
        query = (
            select(job_runs).where(job_runs.c.pipeline_id == pipeline_id).order_by(job_runs.c.id)
        )
        return self._fetch_all(query, _record)

    def update(
        self,
        id: int,
        *,
        status: JobStatus | None = None,
        reason: str | None = None,
        exit_code: int | None = None,
        attempts: int | None = None,
        cache_key: str | None = None,
        cached_from: int | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        log_path: str | None = None,
        tests: Mapping[str, Any] | None = None,
        flaky: Sequence[str] | None = None,
    ) -> JobRecord:
        """Change the given fields and leave the others; NotFoundError if there is no such
        job."""
        given: dict[str, Any] = {
            "status": None if status is None else JobStatus(status).value,
            "reason": reason,
            "exit_code": exit_code,
            "attempts": attempts,
            "cache_key": cache_key,
            "cached_from": cached_from,
            "started_at": None if started_at is None else aware_utc(started_at, "started_at"),
            "finished_at": None if finished_at is None else aware_utc(finished_at, "finished_at"),
            "log_path": log_path,
            "tests": None if tests is None else dict(tests),
            "flaky": None if flaky is None else list(flaky),
        }
        changes = {column: value for column, value in given.items() if value is not None}
        if not changes:
            return self.get(id)
        statement = (
            update(job_runs).where(job_runs.c.id == id).values(**changes).returning(*job_runs.c)
        )
        with self._transaction() as session:
            row = session.execute(statement).one_or_none()
        if row is None:
            raise _not_found(id)
        return _record(row)

    def find_cached(self, project: str, cache_key: str) -> JobRecord | None:
        """The newest successful job of ``project`` with ``cache_key``, or None.

        Only the project's own pipelines count: another project's job with the same key ran
        another project's code and secrets.
        """
        query = (
            select(job_runs)
            .join(pipelines, job_runs.c.pipeline_id == pipelines.c.id)
            .where(
                pipelines.c.project == project,
                job_runs.c.cache_key == cache_key,
                job_runs.c.status == JobStatus.SUCCESS.value,
            )
            .order_by(job_runs.c.id.desc())
        )
        return self._fetch_first(query, _record)


def _new_row(pipeline_id: int, job: NewJob) -> dict[str, Any]:
    return {
        "pipeline_id": pipeline_id,
        "name": job.name,
        "job": job.job,
        "stage": job.stage,
        "shard_index": job.shard_index,
        "shard_total": job.shard_total,
        "needs": list(job.needs),
        "status": JobStatus.PENDING.value,
    }


def _not_found(id: int) -> NotFoundError:
    return NotFoundError(f"no job #{id}; 'andon pipeline show PIPELINE' lists a pipeline's jobs.")


def _record(row: Row[Any]) -> JobRecord:
    values = dict(row._mapping)
    values["status"] = JobStatus(values["status"])
    values["needs"] = tuple(values["needs"])
    values["flaky"] = tuple(values["flaky"])
    return JobRecord(**values)
