"""What a decision asks the reconciler to do, in order. Every action states a target,
not a change ("run 3 instances of v2", "keep 1 of v1"), so that applying the actions of
a decision twice (a server killed before it persisted the state) does no harm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from andon.rollout._json import seconds
from andon.rollout.traffic import Traffic


@dataclass(frozen=True)
class StartInstances:
    """Run ``count`` instances of ``version`` in all: start the missing ones."""

    version: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, tagged with the action's kind."""
        return {"kind": "start_instances", "version": self.version, "count": self.count}


@dataclass(frozen=True)
class StopInstances:
    """Stop instances of ``version`` (draining them) until ``keep`` are left; 0 stops all."""

    version: str
    keep: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, tagged with the action's kind."""
        return {"kind": "stop_instances", "version": self.version, "keep": self.keep}


@dataclass(frozen=True)
class RunMigrations:
    """Run the migrations of ``version`` once, under the environment's migration lock;
    report the result as the observations' ``migrations`` of ``attempt``."""

    version: str
    attempt: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, tagged with the action's kind."""
        return {"kind": "run_migrations", "version": self.version, "attempt": self.attempt}


@dataclass(frozen=True)
class RunSmokeTests:
    """Run the smoke tests through the router with ``header: value`` set, which routes
    them to ``version`` only; report the result as the ``smoke`` of ``attempt``."""

    version: str
    header: str
    value: str
    attempt: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, tagged with the action's kind."""
        return {
            "kind": "run_smoke_tests",
            "version": self.version,
            "header": self.header,
            "value": self.value,
            "attempt": self.attempt,
        }


@dataclass(frozen=True)
class SetTraffic:
    """Apply this split to the environment's router (replacing the previous one)."""

    traffic: Traffic

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, tagged with the action's kind."""
        return {"kind": "set_traffic", **self.traffic.to_dict()}


@dataclass(frozen=True)
class StartAnalysis:
    """Start analysis run ``run``: judge ``metrics`` of ``canary`` (against ``stable``,
    or the previous release's recorded baseline when None) for ``duration`` (None: as
    long as the analysis needs). Runs of other numbers are over and may be stopped."""

    run: int
    canary: str
    stable: str | None
    metrics: tuple[str, ...]
    duration: timedelta | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, tagged with the action's kind."""
        return {
            "kind": "start_analysis",
            "run": self.run,
            "canary": self.canary,
            "stable": self.stable,
            "metrics": list(self.metrics),
            "duration": seconds(self.duration),
        }


class EventKind(StrEnum):
    """Deployment events stored for DORA metrics and the dashboard."""

    STARTED = "started"
    PROMOTED = "promoted"
    PAUSED = "paused"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    FAILED = "failed"
    FINISHED = "finished"


@dataclass(frozen=True)
class RecordEvent:
    """Store a deployment event of ``version`` with its sentence."""

    kind: EventKind
    version: str
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, tagged with the action's kind."""
        return {
            "kind": "record_event",
            "event": self.kind.value,
            "version": self.version,
            "sentence": self.sentence,
        }


Action = (
    StartInstances
    | StopInstances
    | RunMigrations
    | RunSmokeTests
    | SetTraffic
    | StartAnalysis
    | RecordEvent
)
"""Any action a decision asks for."""
