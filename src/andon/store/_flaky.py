"""Flaky tests: each time a test failed and then passed on a retry (``FlakyTestRecord``),
and their tally per test (``FlakySummary``), through the ``FlakyTestRepository``.

The job runner records what its retries revealed through ``store.flaky``; the API and the
dashboard show the summary, most often flaky first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select

from andon.store._repository import Repository, aware_utc, iso_utc
from andon.store._tables import flaky_tests


@dataclass(frozen=True, slots=True)
class FlakyTestRecord:
    """One time a test of a project failed and then passed on a retry."""

    id: int
    project: str
    test: str
    job: str
    commit: str
    pipeline_id: int
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; datetimes as ISO 8601 in UTC with a ``Z``."""
        return {
            "id": self.id,
            "project": self.project,
            "test": self.test,
            "job": self.job,
            "commit": self.commit,
            "pipeline_id": self.pipeline_id,
            "at": iso_utc(self.at),
        }


@dataclass(frozen=True, slots=True)
class FlakySummary:
    """How often one test of one job of a project was flaky, when last, and at which commits
    (newest first, each once)."""

    project: str
    test: str
    job: str
    count: int
    last_seen: datetime
    commits: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; datetimes as ISO 8601 in UTC with a ``Z``."""
        return {
            "project": self.project,
            "test": self.test,
            "job": self.job,
            "count": self.count,
            "last_seen": iso_utc(self.last_seen),
            "commits": list(self.commits),
        }


class FlakyTestRepository(Repository):
    """Records flaky tests and tallies them; reached as ``store.flaky``."""

    def record(
        self,
        *,
        project: str,
        test: str,
        job: str,
        commit: str,
        pipeline_id: int,
        at: datetime | None = None,
    ) -> FlakyTestRecord:
        """Record that ``test`` was flaky in ``job``, at ``at`` or now."""
        statement = (
            insert(flaky_tests)
            .values(
                project=project,
                test=test,
                job=job,
                commit=commit,
                pipeline_id=pipeline_id,
                at=self._given_or_now(at),
            )
            .returning(*flaky_tests.c)
        )
        with self._transaction() as session:
            return _record(session.execute(statement).one())

    def summary(
        self, project: str | None = None, since: datetime | None = None
    ) -> list[FlakySummary]:
        """One summary per test and job, of one project or of all, counting the records at
        or after ``since`` (default: all); most often flaky first, then by test name."""
        query = select(flaky_tests).order_by(flaky_tests.c.at.desc(), flaky_tests.c.id.desc())
        if project is not None:
            query = query.where(flaky_tests.c.project == project)
        if since is not None:
            query = query.where(flaky_tests.c.at >= aware_utc(since, "since"))
        return _summarise(self._fetch_all(query, _record))


def _summarise(newest_first: Sequence[FlakyTestRecord]) -> list[FlakySummary]:
    # Tallied here rather than by GROUP BY, which cannot also gather each test's commits
    # in order on both backends; the records are few, as tests are seldom flaky.
    tallies: dict[tuple[str, str, str], list[FlakyTestRecord]] = {}
    for flaky in newest_first:
        tallies.setdefault((flaky.project, flaky.test, flaky.job), []).append(flaky)
    summaries = [
        FlakySummary(
            project=project,
            test=test,
            job=job,
            count=len(records),
            last_seen=records[0].at,
            commits=tuple(dict.fromkeys(record.commit for record in records)),
        )
        for (project, test, job), records in tallies.items()
    ]
    summaries.sort(key=lambda s: (-s.count, s.test, s.job, s.project))
    return summaries


def _record(row: Row[Any]) -> FlakyTestRecord:
    return FlakyTestRecord(**row._mapping)
