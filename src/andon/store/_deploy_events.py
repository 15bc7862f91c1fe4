"""Deploy events, an append-only log per environment: ``DeployEventKind``, the
``DeployEventRecord`` value and the ``DeployEventRepository`` over them.

The rollout reconciler records what each rollout did through ``store.deploy_events``;
DORA's metrics (:mod:`andon.dora`) are computed from them. Each event keeps the commits the
release carries and when each landed on trunk, so that the change lead time needs no
repository when it is computed.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, insert, select

from andon.store._repository import Repository, aware_utc, iso_utc
from andon.store._tables import deploy_events


class DeployEventKind(StrEnum):
    """What happened to a deploy."""

    STARTED = "started"
    PROMOTED = "promoted"
    PAUSED = "paused"
    RESUMED = "resumed"
    # The system returned all traffic to the old version.
    ROLLED_BACK = "rolled_back"
    # A person rolled it back or cancelled it.
    ABORTED = "aborted"
    # The new version serves all traffic and the old one is stopped.
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeployEventRecord:
    """One thing that happened to a deploy of a release into an environment."""

    id: int
    project: str
    environment: str
    rollout_id: int | None
    kind: DeployEventKind
    at: datetime
    version: str
    artifact: str
    # The commit shas the release carries beyond the previous one.
    commits: list[str]
    message: str
    # When each of ``commits`` landed on trunk (its committer time), of those the
    # repository could tell; empty on events recorded before these were kept.
    commit_times: dict[str, datetime] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; datetimes as ISO 8601 in UTC with a ``Z``."""
        return {
            "id": self.id,
            "project": self.project,
            "environment": self.environment,
            "rollout_id": self.rollout_id,
            "kind": self.kind.value,
            "at": iso_utc(self.at),
            "version": self.version,
            "artifact": self.artifact,
            # A copy, so that a caller editing the result cannot change this record.
            "commits": list(self.commits),
            "message": self.message,
            "commit_times": {sha: iso_utc(at) for sha, at in self.commit_times.items()},
        }


class DeployEventRepository(Repository):
    """Appends and reads deploy events; reached as ``store.deploy_events``."""

    def record(
        self,
        *,
        project: str,
        environment: str,
        kind: DeployEventKind,
        version: str,
        artifact: str,
        commits: Sequence[str] = (),
        message: str = "",
        rollout_id: int | None = None,
        at: datetime | None = None,
        commit_times: Mapping[str, datetime] | None = None,
    ) -> DeployEventRecord:
        """Record that ``kind`` happened to the deploy of ``version``, at ``at`` or now;
        ``commit_times`` says when each commit landed on trunk (timezone-aware)."""
        times = {
            sha: iso_utc(aware_utc(when, "commit_times"))
            for sha, when in (commit_times or {}).items()
        }
        statement = (
            insert(deploy_events)
            .values(
                project=project,
                environment=environment,
                rollout_id=rollout_id,
                kind=DeployEventKind(kind).value,
                at=self._given_or_now(at),
                version=version,
                artifact=artifact,
                commits=list(commits),
                message=message,
                commit_times=times,
            )
            .returning(*deploy_events.c)
        )
        with self._transaction() as session:
            return _record(session.execute(statement).one())

    def list(
        self,
        project: str | None = None,
        environment: str | None = None,
        *,
        since: datetime | None = None,
        kinds: Iterable[DeployEventKind] | None = None,
    ) -> builtins.list[DeployEventRecord]:
        """The events of one project or of all, of one environment name or of any, at or
        after ``since``, of the given kinds or of any; oldest first."""
        # By time, then by id for events recorded with the same time.
        query = select(deploy_events).order_by(deploy_events.c.at, deploy_events.c.id)
        if project is not None:
            query = query.where(deploy_events.c.project == project)
        if environment is not None:
            query = query.where(deploy_events.c.environment == environment)
        if since is not None:
            query = query.where(deploy_events.c.at >= aware_utc(since, "since"))
        if kinds is not None:
            wanted = [DeployEventKind(kind).value for kind in kinds]
            query = query.where(deploy_events.c.kind.in_(wanted))
        return self._fetch_all(query, _record)


def _record(row: Row[Any]) -> DeployEventRecord:
    values = dict(row._mapping)
    values["kind"] = DeployEventKind(values["kind"])
    values["commit_times"] = {
        sha: datetime.fromisoformat(when) for sha, when in (values["commit_times"] or {}).items()
    }
    return DeployEventRecord(**values)
