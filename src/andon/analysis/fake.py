"""A fake judge for the rollout engine's tests: it answers with outcomes it was given, in
order, and records the looks it was shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from andon.analysis.metrics import Metric, MetricKind
from andon.analysis.verdicts import Look, Outcome, Verdict


@dataclass
class FakeJudge:
    """Answers ``outcomes`` one per look, repeating the last one; remembers each look."""

    outcomes: Sequence[Outcome]
    metric: Metric = field(default_factory=lambda: Metric("errors", MetricKind.ERROR_RATE))
    looks: list[Look] = field(default_factory=list)

    def judge(self, look: Look) -> Verdict:
        """The next scripted outcome, with a sentence that says it is scripted."""
        self.looks.append(look)
        outcome = self.outcomes[min(len(self.looks), len(self.outcomes)) - 1]
        sentence = f"scripted {outcome.value} at look {len(self.looks)}"
        return Verdict(self.metric.name, outcome, sentence, {"look": len(self.looks)})
