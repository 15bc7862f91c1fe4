"""A rollout's whole memory: :class:`RolloutState`. The reconciler persists it after every
decision and hands it back on the next tick, so that a server killed mid-rollout resumes
at the same step; nothing else is remembered between ticks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from andon.errors import ConflictError
from andon.rollout._json import mapping, read_seconds, read_time, seconds, time_text
from andon.rollout.phases import DecisionKind, PauseReason, Phase
from andon.rollout.plans import RolloutPlan
from andon.rollout.traffic import Traffic
from andon.spec import Strategy


@dataclass(frozen=True)
class DecisionRecord:
    """One decision, as ``andon rollout status`` shows it: when, what, a sentence a person
    can read, and the evidence behind it."""

    at: datetime
    kind: DecisionKind
    sentence: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values."""
        return {
            "at": time_text(self.at),
            "kind": self.kind.value,
            "sentence": self.sentence,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecisionRecord:
        """A record from :meth:`to_dict`'s values."""
        at = read_time(data["at"])
        assert at is not None
        return cls(
            at, DecisionKind(data["kind"]), str(data["sentence"]), dict(data.get("evidence") or {})
        )


@dataclass(frozen=True)
class PauseState:
    """Why the rollout is paused, since when, until when, and where ``resume`` returns."""

    reason: PauseReason
    since: datetime
    sentence: str
    until: datetime | None = None
    """When a timed pause step ends by itself."""
    resume_phase: Phase = Phase.PROGRESSING

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values."""
        return {
            "reason": self.reason.value,
            "since": time_text(self.since),
            "sentence": self.sentence,
            "until": time_text(self.until),
            "resume_phase": self.resume_phase.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PauseState:
        """A pause from :meth:`to_dict`'s values."""
        since = read_time(data["since"])
        assert since is not None
        return cls(
            reason=PauseReason(data["reason"]),
            since=since,
            sentence=str(data.get("sentence", "")),
            until=read_time(data.get("until")),
            resume_phase=Phase(data.get("resume_phase", Phase.PROGRESSING)),
        )


@dataclass(frozen=True)
class AnalysisRun:
    """The analysis under way: its number (verdicts name it), what it judges, how long."""

    run: int
    metrics: tuple[str, ...]
    started_at: datetime
    deadline: datetime
    """A verdict later than this counts as inconclusive (the metric source may be down)."""
    duration: timedelta | None = None
    step_index: int | None = None
    """The canary step it belongs to; None for a background run (blue-green's warm period)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values."""
        return {
            "run": self.run,
            "metrics": list(self.metrics),
            "started_at": time_text(self.started_at),
            "deadline": time_text(self.deadline),
            "duration": seconds(self.duration),
            "step_index": self.step_index,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnalysisRun:
        """A run from :meth:`to_dict`'s values."""
        started_at, deadline = read_time(data["started_at"]), read_time(data["deadline"])
        assert started_at is not None and deadline is not None
        return cls(
            run=int(data["run"]),
            metrics=tuple(data.get("metrics", ())),
            started_at=started_at,
            deadline=deadline,
            duration=read_seconds(data.get("duration")),
            step_index=data.get("step_index"),
        )


@dataclass(frozen=True)
class RollingProgress:
    """How far a rolling rollout is: new instances asked for and those in service."""

    replaced: int = 0
    """Old instances replaced by ready new ones (and stopped)."""
    target: int = 0
    """New instances asked for; more than ``replaced`` while a batch starts."""
    wait_until: datetime | None = None
    """The end of the wait before the next batch."""
    full: bool = False
    """``promote --full``: the next batch replaces all remaining instances."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values."""
        return {
            "replaced": self.replaced,
            "target": self.target,
            "wait_until": time_text(self.wait_until),
            "full": self.full,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RollingProgress:
        """Progress from :meth:`to_dict`'s values."""
        data = mapping(data)
        return cls(
            replaced=int(data.get("replaced", 0)),
            target=int(data.get("target", 0)),
            wait_until=read_time(data.get("wait_until")),
            full=bool(data.get("full", False)),
        )


@dataclass(frozen=True)
class RolloutState:
    """Where one rollout of ``canary`` over ``stable`` stands; JSON-able both ways."""

    strategy: Strategy
    stable: str | None
    """The version serving before the rollout; None on a first deploy."""
    canary: str
    """The version being rolled out (the green of blue-green, the new one of rolling)."""
    phase: Phase
    created_at: datetime
    attempt: int = 1
    """Raised by ``retry``; migration and smoke results name the attempt they belong to."""
    phase_started_at: datetime | None = None
    deadline: datetime | None = None
    """When the current phase times out (starting, migrating, smoke testing, rolling
    back) or ends (baking, finalizing)."""
    step_index: int = 0
    step_started_at: datetime | None = None
    traffic: Traffic = field(default_factory=Traffic)
    pause: PauseState | None = None
    analysis: AnalysisRun | None = None
    analysis_runs: int = 0
    """Analysis runs started so far; the next one is numbered one more."""
    rolling: RollingProgress = field(default_factory=RollingProgress)
    stable_target: int | None = None
    """Old instances the rollout asked to keep; None while it has stopped none."""
    rollback_safe: bool = True
    migrated: bool = False
    """Whether this attempt's migrations have run (rollback is unsafe only after)."""
    approved: bool = False
    ending: Phase | None = None
    """While ROLLING_BACK: the phase it ends in (ROLLED_BACK, ABORTED or FAILED)."""
    ending_sentence: str = ""
    finished_at: datetime | None = None
    decisions: tuple[DecisionRecord, ...] = ()

    @classmethod
    def begin(
        cls,
        plan: RolloutPlan,
        *,
        stable: str | None,
        canary: str,
        now: datetime,
        by: str = "",
    ) -> RolloutState:
        """A new rollout of ``canary`` over ``stable`` (PENDING); its log opens with the
        plan's warnings, so that an unsafe rollback is said before anything starts.
        Raises :class:`~andon.errors.ConflictError` for a rollout of the version that
        serves already."""
        if canary == stable:
            raise ConflictError(
                f"{canary} serves this environment already; deploy another version, or "
                "'andon env recreate' to start it afresh."
            )
        over = f" over {stable}" if stable else " (first deploy)"
        who = f" by {by}" if by else ""
        records = [
            DecisionRecord(
                now,
                DecisionKind.CREATED,
                f"rollout of {canary}{over} by {plan.strategy.value} asked{who}",
                {"instances": plan.instances},
            ),
            *(DecisionRecord(now, DecisionKind.WARNING, warning) for warning in plan.warnings),
        ]
        return cls(
            strategy=plan.strategy,
            stable=stable,
            canary=canary,
            phase=Phase.PENDING,
            created_at=now,
            phase_started_at=now,
            traffic=Traffic.only(stable),
            rollback_safe=plan.rollback_safe,
            approved=not plan.requires_approval,
            decisions=tuple(records),
        )

    @property
    def last_decision(self) -> DecisionRecord | None:
        """The latest decision, shown as the rollout's status line."""
        return self.decisions[-1] if self.decisions else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; :meth:`from_dict` reads them back."""
        return {
            "strategy": self.strategy.value,
            "stable": self.stable,
            "canary": self.canary,
            "phase": self.phase.value,
            "created_at": time_text(self.created_at),
            "attempt": self.attempt,
            "phase_started_at": time_text(self.phase_started_at),
            "deadline": time_text(self.deadline),
            "step_index": self.step_index,
            "step_started_at": time_text(self.step_started_at),
            "traffic": self.traffic.to_dict(),
            "pause": None if self.pause is None else self.pause.to_dict(),
            "analysis": None if self.analysis is None else self.analysis.to_dict(),
            "analysis_runs": self.analysis_runs,
            "rolling": self.rolling.to_dict(),
            "stable_target": self.stable_target,
            "rollback_safe": self.rollback_safe,
            "migrated": self.migrated,
            "approved": self.approved,
            "ending": None if self.ending is None else self.ending.value,
            "ending_sentence": self.ending_sentence,
            "finished_at": time_text(self.finished_at),
            "decisions": [record.to_dict() for record in self.decisions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutState:
        """A state from :meth:`to_dict`'s values. Keys it lacks take their defaults, so
        that states stored by an older Andon still read."""
        created_at = read_time(data["created_at"])
        assert created_at is not None
        pause, analysis, ending = data.get("pause"), data.get("analysis"), data.get("ending")
        stable_target = data.get("stable_target")
        return cls(
            strategy=Strategy(data["strategy"]),
            stable=data.get("stable"),
            canary=str(data["canary"]),
            phase=Phase(data["phase"]),
            created_at=created_at,
            attempt=int(data.get("attempt", 1)),
            phase_started_at=read_time(data.get("phase_started_at")),
            deadline=read_time(data.get("deadline")),
            step_index=int(data.get("step_index", 0)),
            step_started_at=read_time(data.get("step_started_at")),
            traffic=Traffic.from_dict(data.get("traffic")),
            pause=None if pause is None else PauseState.from_dict(pause),
            analysis=None if analysis is None else AnalysisRun.from_dict(analysis),
            analysis_runs=int(data.get("analysis_runs", 0)),
            rolling=RollingProgress.from_dict(data.get("rolling")),
            stable_target=None if stable_target is None else int(stable_target),
            rollback_safe=bool(data.get("rollback_safe", True)),
            migrated=bool(data.get("migrated", False)),
            approved=bool(data.get("approved", False)),
            ending=None if ending is None else Phase(ending),
            ending_sentence=str(data.get("ending_sentence", "")),
            finished_at=read_time(data.get("finished_at")),
            decisions=tuple(DecisionRecord.from_dict(r) for r in data.get("decisions", ())),
        )
