"""The vocabulary every judge speaks: what it is shown (:class:`Look`), what it answers
(:class:`Verdict` with an :class:`Outcome`), and the :class:`Judge` protocol itself.

The rollout reconciler makes a :class:`Look` per metric at each analysis interval, asks the
metric's judge, stores the verdict (outcome, evidence, sentence) with the rollout's
decision and, for judges that remember, the verdict's ``state`` for the next look.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from andon.analysis.metrics import Metric
from andon.analysis.samples import VersionSample

if TYPE_CHECKING:  # pragma: no cover - typing only; sequential imports this module
    from andon.analysis.sequential import SequentialState

Scalar = float | int | str | bool | None
"""A value of a verdict's evidence: plain JSON."""


class Outcome(StrEnum):
    """What a judge concluded. Inconclusive pauses a rollout; it never promotes."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Look:
    """What a judge is shown: each version's window since the analysis began."""

    canary: VersionSample
    """The new version's window."""
    stable: VersionSample | None = None
    """The running version's window over the same time; None when there is none."""
    elapsed: float = 0.0
    """Seconds since the analysis began."""
    budget: float | None = None
    """Seconds the analysis may take; None when it has no end of its own."""
    state: SequentialState | None = None
    """What a judge that remembers returned with its previous verdict (None at first)."""


@dataclass(frozen=True)
class Verdict:
    """A judge's answer about one metric, with its evidence and a sentence for people."""

    metric: str
    """The metric's name in andon.yaml."""
    outcome: Outcome
    sentence: str
    """E.g. ``canary error rate 4.1% vs stable 0.2% over 1,830 requests (p < 0.001)``."""
    evidence: Mapping[str, Scalar] = field(default_factory=dict)
    """Counts, rates, sample sizes, p-values: plain data for the audit trail."""
    state: SequentialState | None = None
    """For judges that remember between looks: hand it back in the next :class:`Look`."""

    def to_dict(self) -> dict[str, Any]:
        """The verdict without its state (which has its own ``to_dict``)."""
        return {
            "metric": self.metric,
            "outcome": self.outcome.value,
            "sentence": self.sentence,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            metric=str(data["metric"]),
            outcome=Outcome(data["outcome"]),
            sentence=str(data["sentence"]),
            evidence=dict(data.get("evidence", {})),
        )


class Judge(Protocol):
    """Judges one metric at one look. Implementations have no side effects: the time comes
    in with the look, and anything remembered comes in and goes out as plain data."""

    @property
    def metric(self) -> Metric:
        """The metric judged."""
        ...

    def judge(self, look: Look) -> Verdict:
        """The verdict on ``look``."""
        ...
