"""What an analysis run remembers between looks (:class:`AnalysisRunState`), persisted as
JSON by the rollout reconciler after every look, and the verdict it ends with
(:class:`RunVerdict`), which the reconciler turns into the rollout's ``Verdict``.

:mod:`andon.analysis.runs` makes and advances them; nothing here acts on the world.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from andon.analysis.power import PowerStatement
from andon.analysis.progress import MetricProgress, RunView
from andon.analysis.samples import VersionSample
from andon.analysis.verdicts import Outcome

MAX_DURATION = 15 * 60.0
"""Seconds a run without a duration may take (the rollout's analysis timeout)."""


@dataclass(frozen=True)
class Outage:
    """A metric source that has not answered since ``since``, and the latest reason."""

    since: float
    reason: str


@dataclass(frozen=True)
class RunVerdict:
    """The conclusion of analysis run ``run``: the rollout's ``Verdict``, field for field."""

    run: int
    outcome: Outcome
    sentence: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """Each metric's evidence, by metric name."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, which the rollout's ``Verdict.from_dict`` reads as it is."""
        return {
            "run": self.run,
            "outcome": self.outcome.value,
            "sentence": self.sentence,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunVerdict:
        """The verdict :meth:`to_dict` wrote."""
        return cls(
            run=int(data["run"]),
            outcome=Outcome(data["outcome"]),
            sentence=str(data["sentence"]),
            evidence=dict(data.get("evidence") or {}),
        )


@dataclass(frozen=True)
class AnalysisRunState:
    """Everything an analysis run remembers between looks, as plain data."""

    run: int
    canary: str
    stable: str | None
    """None: the canary is compared with ``baseline``, recorded before the switch."""
    metrics: tuple[str, ...]
    """The metrics judged, by name."""
    started_at: float
    budget: float
    """Seconds the run may take: the step's duration, or the maximum without one."""
    duration: float | None = None
    baseline: VersionSample | None = None
    """The previous version's window, when there is no stable version to compare with."""
    skipped: tuple[str, ...] = ()
    """Metrics that have nothing to be judged by in this run (a comparison without any
    baseline recorded)."""
    progress: Mapping[str, MetricProgress] = field(default_factory=dict)
    """Each metric's windows, judges' state and verdicts, by name."""
    outages: Mapping[str, Outage] = field(default_factory=dict)
    """Metric sources that did not answer at the last look, by source."""
    looks: int = 0
    failed_looks: int = 0
    """Looks at which a metric source did not answer."""
    power: tuple[PowerStatement, ...] = ()
    """Whether the traffic can judge each metric in the budget, as far as it is known."""
    verdict: RunVerdict | None = None

    @property
    def view(self) -> RunView:
        """What every metric of the run shares."""
        return RunView(
            canary=self.canary,
            stable=self.stable,
            started_at=self.started_at,
            budget=self.budget,
            open_ended=self.duration is None,
            baseline=self.baseline,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, for the reconciler to persist."""
        return {
            "run": self.run,
            "canary": self.canary,
            "stable": self.stable,
            "metrics": list(self.metrics),
            "started_at": self.started_at,
            "budget": self.budget,
            "duration": self.duration,
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
            "skipped": list(self.skipped),
            "progress": {name: found.to_dict() for name, found in self.progress.items()},
            "outages": {
                source: {"since": outage.since, "reason": outage.reason}
                for source, outage in self.outages.items()
            },
            "looks": self.looks,
            "failed_looks": self.failed_looks,
            "power": [
                {
                    "metric": statement.metric,
                    "enough": statement.enough,
                    "needed": statement.needed,
                    "expected": statement.expected,
                    "sentence": statement.sentence,
                }
                for statement in self.power
            ],
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnalysisRunState:
        """The state :meth:`to_dict` wrote."""
        baseline, verdict, duration = (
            data.get("baseline"),
            data.get("verdict"),
            data.get("duration"),
        )
        return cls(
            run=int(data["run"]),
            canary=str(data["canary"]),
            stable=None if data.get("stable") is None else str(data["stable"]),
            metrics=tuple(str(name) for name in data["metrics"]),
            started_at=float(data["started_at"]),
            budget=float(data["budget"]),
            duration=None if duration is None else float(duration),
            baseline=None if baseline is None else VersionSample.from_dict(baseline),
            skipped=tuple(str(name) for name in data.get("skipped", ())),
            progress={
                str(name): MetricProgress.from_dict(found)
                for name, found in data.get("progress", {}).items()
            },
            outages={
                str(source): Outage(float(outage["since"]), str(outage["reason"]))
                for source, outage in data.get("outages", {}).items()
            },
            looks=int(data.get("looks", 0)),
            failed_looks=int(data.get("failed_looks", 0)),
            power=tuple(
                PowerStatement(
                    metric=str(statement["metric"]),
                    enough=bool(statement["enough"]),
                    needed=None if statement.get("needed") is None else int(statement["needed"]),
                    expected=int(statement["expected"]),
                    sentence=str(statement["sentence"]),
                )
                for statement in data.get("power", ())
            ),
            verdict=None if verdict is None else RunVerdict.from_dict(verdict),
        )
