"""One decision for an analysis step out of its metrics' verdicts.

The rollout reconciler calls :func:`decide_step` after asking every judge of the step, and
stores the decision's sentence with the rollout's history ("rolled back: ...").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from andon.analysis.verdicts import Outcome, Scalar, Verdict

_ORDER = (Outcome.FAIL, Outcome.INCONCLUSIVE, Outcome.PASS)
"""How a sentence names the verdicts: failures, then inconclusives, then passes."""


@dataclass(frozen=True)
class StepDecision:
    """The outcome of an analysis step, the verdicts it rests on, and one sentence."""

    outcome: Outcome
    sentence: str
    verdicts: tuple[Verdict, ...]

    @property
    def evidence(self) -> dict[str, dict[str, Scalar]]:
        """Each metric's evidence by name, for a store that keeps one evidence mapping."""
        return {verdict.metric: dict(verdict.evidence) for verdict in self.verdicts}

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "sentence": self.sentence,
            "verdicts": [verdict.to_dict() for verdict in self.verdicts],
        }


def decide_step(verdicts: Sequence[Verdict]) -> StepDecision:
    """Any FAIL fails the step; else any INCONCLUSIVE leaves it inconclusive; else it
    passes. The sentence leads with the first failing (else inconclusive) metric's own
    sentence and names the others. A business metric falling on the canary fails like an
    error spike: its judge says FAIL. No verdicts is inconclusive: a step with nothing to
    judge must not promote. It has no side effects.
    """
    if not verdicts:
        return StepDecision(Outcome.INCONCLUSIVE, "no metrics to judge", ())
    by_outcome = {outcome: [v for v in verdicts if v.outcome is outcome] for outcome in _ORDER}
    for index, outcome in enumerate(_ORDER[:2]):
        found = by_outcome[outcome]
        if not found:
            continue
        lead, others = found[0], found[1:]
        parts = [f"{lead.metric} {_word(outcome)}: {lead.sentence}"]
        if others:
            parts.append(f"{_names(others)} also {_word(outcome)}")
        parts += [
            f"{_names(by_outcome[rest])} {_word(rest)}"
            for rest in _ORDER[index + 1 :]
            if by_outcome[rest]
        ]
        return StepDecision(outcome, "; ".join(parts), tuple(verdicts))
    passed = by_outcome[Outcome.PASS]
    if len(passed) == 1:
        sentence = f"{passed[0].metric} passed: {passed[0].sentence}"
    else:
        sentence = f"all {len(passed)} metrics passed: {_names(passed)}"
    return StepDecision(Outcome.PASS, sentence, tuple(verdicts))


def _word(outcome: Outcome) -> str:
    return {Outcome.FAIL: "failed", Outcome.INCONCLUSIVE: "inconclusive"}.get(outcome, "passed")


def _names(verdicts: Sequence[Verdict]) -> str:
    names = [verdict.metric for verdict in verdicts]
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"
