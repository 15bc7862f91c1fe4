"""The threshold judge: fixed bounds on what the canary alone does (error rate at most 1%,
p95 latency at most 500 ms, at least 1 req/s, orders per request at least 0.02).

Built by :func:`~andon.analysis.judges.judges_for` from a metric's ``threshold`` in
andon.yaml; the rollout reconciler asks it at every analysis interval.
"""

from __future__ import annotations

from dataclasses import dataclass

from andon.analysis import _describing as describe
from andon.analysis import _formatting as fmt
from andon.analysis.metrics import Metric, MetricKind
from andon.analysis.samples import VersionSample
from andon.analysis.verdicts import Look, Outcome, Scalar, Verdict


@dataclass(frozen=True)
class ThresholdJudge:
    """Fails the canary when its metric leaves ``[min, max]``; inconclusive until it has
    served ``min_samples`` requests (request rate: until ``min_seconds`` have passed).

    Judges the point estimate, as a person reading a dashboard would. It has no side
    effects.
    """

    metric: Metric
    max: float | None = None
    """The highest acceptable value (a fraction for error rate, seconds for latency)."""
    min: float | None = None
    """The lowest acceptable value."""
    min_samples: int = 100
    min_seconds: float = 10.0
    """For request rate: how long to watch before the rate means anything."""

    def __post_init__(self) -> None:
        if self.max is None and self.min is None:
            raise ValueError(f"threshold judge for {self.metric.name!r} needs a max or a min")
        if self.min_samples < 1:
            raise ValueError("min_samples must be at least 1")

    def judge(self, look: Look) -> Verdict:
        """PASS within the bounds, FAIL outside, INCONCLUSIVE with too little traffic."""
        canary = look.canary
        label = self.metric.label
        enough, sample = self._sample(look)
        if not enough:
            if self.metric.kind is MetricKind.REQUEST_RATE:
                why = f"too early to judge {label}: {sample} of the {self._needed()} needed"
            else:
                why = f"too little traffic to judge {label}: {sample}; needs {self._needed()}"
            evidence: dict[str, Scalar] = {"requests": canary.requests, "elapsed": look.elapsed}
            return self._verdict(Outcome.INCONCLUSIVE, why, evidence)
        value = self._value(canary, look.elapsed)
        if value is None:
            what = "latencies" if self.metric.kind is MetricKind.LATENCY else self.metric.counter
            return self._verdict(
                Outcome.INCONCLUSIVE,
                f"no {what} observed on the canary to judge {label}",
                {"requests": canary.requests},
            )
        shown = self._format(value)
        evidence = {
            "value": value,
            "max": self.max,
            "min": self.min,
            "requests": canary.requests,
            "elapsed": look.elapsed,
        }
        head = f"canary {label} {shown} over {sample}"
        if self.max is not None and value > self.max:
            sentence = f"{head} is above the {self._format(self.max)} limit"
            return self._verdict(Outcome.FAIL, sentence, evidence)
        if self.min is not None and value < self.min:
            sentence = f"{head} is below the {self._format(self.min)} minimum"
            return self._verdict(Outcome.FAIL, sentence, evidence)
        sentence = f"{head}, within {self._bounds()}"
        return self._verdict(Outcome.PASS, sentence, evidence)

    def _sample(self, look: Look) -> tuple[bool, str]:
        if self.metric.kind is MetricKind.REQUEST_RATE:
            return look.elapsed >= self.min_seconds, fmt.seconds(look.elapsed)
        return look.canary.requests >= self.min_samples, fmt.requests(look.canary.requests)

    def _needed(self) -> str:
        if self.metric.kind is MetricKind.REQUEST_RATE:
            return fmt.seconds(self.min_seconds)
        return fmt.requests(self.min_samples)

    def _value(self, canary: VersionSample, elapsed: float) -> float | None:
        kind = self.metric.kind
        if kind is MetricKind.ERROR_RATE:
            return canary.errors / canary.requests
        if kind is MetricKind.LATENCY:
            return canary.latency.quantile(self.metric.quantile or 0.5)
        if kind is MetricKind.REQUEST_RATE:
            return canary.requests / elapsed
        counted = canary.counters.get(self.metric.counter or "")
        return None if counted is None else counted / canary.requests

    def _format(self, value: float) -> str:
        return describe.FORMATS[self.metric.kind](value)

    def _bounds(self) -> str:
        if self.max is not None and self.min is not None:
            return f"the bounds {self._format(self.min)} to {self._format(self.max)}"
        if self.max is not None:
            return f"the {self._format(self.max)} limit"
        return f"the {self._format(self.min or 0.0)} minimum"

    def _verdict(self, outcome: Outcome, sentence: str, evidence: dict[str, Scalar]) -> Verdict:
        return Verdict(self.metric.name, outcome, sentence, evidence)
