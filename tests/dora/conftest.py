"""Hand-made deploy events for the DORA engine's tests: the ``log`` fixture (an
:class:`EventLog`) writes an environment's history a rollout at a time, with times in
minutes after :data:`T0` (``log.at(minutes)``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from andon.store import DeployEventKind, DeployEventRecord

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """``minutes`` after :data:`T0`."""
    return T0 + timedelta(minutes=minutes)


class EventLog:
    """Deploy events as the reconciler records them, numbered in order."""

    def __init__(self) -> None:
        self.events: list[DeployEventRecord] = []

    @staticmethod
    def at(minutes: float) -> datetime:
        """``minutes`` after :data:`T0`."""
        return at(minutes)

    def event(
        self,
        rollout: int,
        kind: DeployEventKind,
        minute: float,
        version: str,
        *,
        commits: Sequence[str] = (),
        committed: dict[str, float] | None = None,
        message: str = "",
        environment: str = "prod",
        project: str = "shop",
    ) -> DeployEventRecord:
        """One event; ``committed`` gives each commit's time in minutes after T0."""
        record = DeployEventRecord(
            id=len(self.events) + 1,
            project=project,
            environment=environment,
            rollout_id=rollout,
            kind=kind,
            at=at(minute),
            version=version,
            artifact=f"sha256:{version}",
            commits=list(commits),
            message=message,
            commit_times={sha: at(m) for sha, m in (committed or {}).items()},
        )
        self.events.append(record)
        return record

    def deploy(
        self,
        rollout: int,
        version: str,
        start: float,
        end: float | None,
        ending: DeployEventKind = DeployEventKind.FINISHED,
        *,
        committed: dict[str, float] | None = None,
        message: str = "",
        environment: str = "prod",
        project: str = "shop",
    ) -> None:
        """A rollout of ``version`` carrying the commits of ``committed`` (sha → minute),
        started at ``start`` and ending at ``end`` (None: still under way)."""
        kinds = [(DeployEventKind.STARTED, start), *([(ending, end)] if end is not None else [])]
        for kind, minute in kinds:
            self.event(
                rollout, kind, minute, version, commits=list(committed or {}),
                committed=committed, message=message if kind is ending else "",
                environment=environment, project=project,
            )  # fmt: skip


@pytest.fixture
def log() -> EventLog:
    return EventLog()
