"""What the reconciler saw before a tick: the versions' instances, the results of the
migrations and smoke tests it ran, the analysis verdict, and the commands people queued.

The analysis package reports verdicts of its own; the reconciler adapts them to the
minimal :class:`Verdict` here, so that the rollout engine does not depend on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from andon.rollout._json import mapping


class Outcome(StrEnum):
    """An analysis verdict: go on, roll back, or ask a person."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Verdict:
    """The conclusion of analysis run ``run``, with a sentence and its evidence, e.g.
    "canary error rate 4.1% vs stable 0.2% over 1,830 requests (p < 0.001)"."""

    run: int
    outcome: Outcome
    sentence: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values."""
        return {
            "run": self.run,
            "outcome": self.outcome.value,
            "sentence": self.sentence,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """A verdict from :meth:`to_dict`'s values."""
        return cls(
            run=int(data["run"]),
            outcome=Outcome(data["outcome"]),
            sentence=str(data.get("sentence", "")),
            evidence=dict(data.get("evidence") or {}),
        )


@dataclass(frozen=True)
class InstanceReport:
    """A version's instances: how many take traffic, how many the runtime gave up on
    (they will not become ready without being started again), and what they said."""

    ready: int = 0
    failed: int = 0
    message: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> InstanceReport:
        """A report from ``{"ready": 2, "failed": 1, "message": "..."}``."""
        data = mapping(data)
        return cls(
            int(data.get("ready", 0)), int(data.get("failed", 0)), str(data.get("message", ""))
        )


@dataclass(frozen=True)
class CheckResult:
    """How the migrations or smoke tests of attempt ``attempt`` ended."""

    attempt: int
    passed: bool
    message: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> CheckResult | None:
        """A result from ``{"attempt": 1, "passed": false, "message": "..."}``, or None."""
        if data is None:
            return None
        return cls(int(data.get("attempt", 1)), bool(data["passed"]), str(data.get("message", "")))


class CommandKind(StrEnum):
    """What a person may ask of a rollout (``andon rollout VERB ENV``)."""

    APPROVE = "approve"
    PROMOTE = "promote"
    PROMOTE_FULL = "promote_full"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    RETRY = "retry"


@dataclass(frozen=True)
class OperatorCommand:
    """A command queued by a person; who and why go into the decision log."""

    kind: CommandKind
    by: str = ""
    reason: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | str) -> OperatorCommand:
        """A command from ``"abort"`` or ``{"kind": "abort", "by": "ann", "reason": "..."}``."""
        if isinstance(data, str):
            return cls(CommandKind(data))
        return cls(CommandKind(data["kind"]), str(data.get("by", "")), str(data.get("reason", "")))


@dataclass(frozen=True)
class Observations:
    """Everything one tick sees of the world. Every command passed in is handled
    (carried out or refused, with the reason logged): the reconciler dequeues them all
    once it has persisted the decision."""

    canary: InstanceReport = InstanceReport()
    stable: InstanceReport = InstanceReport()
    migrations: CheckResult | None = None
    smoke: CheckResult | None = None
    verdict: Verdict | None = None
    """The latest verdict; one of another run than the current one is ignored."""
    commands: tuple[OperatorCommand, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Observations:
        """Observations from plain values (the golden cases' ``observations``)."""
        data = mapping(data)
        verdict = data.get("verdict")
        return cls(
            canary=InstanceReport.from_dict(data.get("canary")),
            stable=InstanceReport.from_dict(data.get("stable")),
            migrations=CheckResult.from_dict(data.get("migrations")),
            smoke=CheckResult.from_dict(data.get("smoke")),
            verdict=None if verdict is None else Verdict.from_dict(verdict),
            commands=tuple(OperatorCommand.from_dict(c) for c in data.get("commands", ())),
        )
