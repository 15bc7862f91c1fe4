"""What a decision asks the reconciler to do, in order. Every action states a target,
not a change ("run 3 instances of v2", "keep 1 of v1"), so that applying the actions of
a decision twice (a server killed before it persisted the state) does no harm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from andon.rollout._json import read_seconds, seconds
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


def action_from_dict(data: Mapping[str, Any]) -> Action:
    """An action from its :meth:`to_dict` values (actions a reconciler persisted before
    applying them); no side effects."""
    kind = data["kind"]
    if kind == "start_instances":
        return StartInstances(str(data["version"]), int(data["count"]))
    if kind == "stop_instances":
        return StopInstances(str(data["version"]), int(data.get("keep", 0)))
    if kind == "run_migrations":
        return RunMigrations(str(data["version"]), int(data["attempt"]))
    if kind == "run_smoke_tests":
        return RunSmokeTests(
            str(data["version"]), str(data["header"]), str(data["value"]), int(data["attempt"])
        )
    if kind == "set_traffic":
        return SetTraffic(Traffic.from_dict(data))
    if kind == "start_analysis":
        stable = data.get("stable")
        return StartAnalysis(
            run=int(data["run"]),
            canary=str(data["canary"]),
            stable=None if stable is None else str(stable),
            metrics=tuple(str(metric) for metric in data.get("metrics", ())),
            duration=read_seconds(data.get("duration")),
        )
    if kind == "record_event":
        return RecordEvent(EventKind(data["event"]), str(data["version"]), str(data["sentence"]))
    raise ValueError(f"unknown action kind {kind!r}")
