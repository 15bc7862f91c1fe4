"""The comparing judge: the canary against the stable version serving at the same time,
with fixed-sample tests at one look (error rate, latency, a business counter per request).

Built by :func:`~andon.analysis.judges.judges_for` when sequential judging is off; use it
for a single look at the end of a step. Looking again and again with it raises its false
alarms above ``alpha``: for continuous watching use
:class:`~andon.analysis.sequential.SequentialJudge`.
"""

from __future__ import annotations

from dataclasses import dataclass

from andon.analysis import _describing as describe
from andon.analysis import _formatting as fmt
from andon.analysis._statistics import excess_p, mann_whitney_binned, rate_ratio_p
from andon.analysis.metrics import Metric, MetricKind, latency_limit
from andon.analysis.samples import VersionSample
from andon.analysis.verdicts import Look, Outcome, Scalar, Verdict
from andon.errors import UsageError


@dataclass(frozen=True)
class ComparisonJudge:
    """Fails the canary when it is significantly worse than the stable version by more
    than the tolerance. It has no side effects.

    - error rate: worse means above ``(1 + max_increase)`` times the stable rate *and*
      above ``floor``; both exact one-sided tests must reject (an intersection-union test,
      so the p-value is the larger of the two);
    - latency: Mann-Whitney U over the histogram buckets must find the canary slower, and
      its quantile must exceed the stable's by more than ``max_increase``;
    - business counter per request: the exact conditional Poisson test must find it below
      ``(1 - max_decrease)`` times the stable's.
    """

    metric: Metric
    max_increase: float | None = None
    """Tolerated increase as a fraction: 1.0 accepts up to twice the stable value."""
    max_decrease: float | None = None
    """Tolerated decrease as a fraction: 0.3 accepts down to 70% of the stable value."""
    floor: float = 0.001
    """An error rate the canary may always have, whatever the stable one: one error is
    not a failure because the stable version happened to have none."""
    alpha: float = 0.05
    """False-alarm rate of one look."""
    min_samples: int = 100
    """Requests each version must have served before a verdict."""

    def __post_init__(self) -> None:
        if self.metric.kind is MetricKind.REQUEST_RATE:
            raise UsageError(
                f"metric '{self.metric.name}': request_rate cannot be compared with the "
                "baseline, because each version's rate follows its traffic weight; "
                "give it a threshold instead"
            )
        if self.min_samples < 1:
            raise ValueError("min_samples must be at least 1")

    def judge(self, look: Look) -> Verdict:
        """PASS unless significantly worse; INCONCLUSIVE without enough of both versions."""
        label = self.metric.label
        stable = look.stable
        if stable is None:
            return self._verdict(
                Outcome.INCONCLUSIVE, f"no stable version to compare the canary's {label} with"
            )
        canary = look.canary
        if canary.requests < self.min_samples or stable.requests < self.min_samples:
            return self._verdict(
                Outcome.INCONCLUSIVE,
                f"too little traffic to compare {label}: canary "
                f"{fmt.requests(canary.requests)}, stable {fmt.requests(stable.requests)}; "
                f"needs {fmt.count(self.min_samples)} each",
                {"canary_requests": canary.requests, "stable_requests": stable.requests},
            )
        if self.metric.kind is MetricKind.ERROR_RATE:
            return self._errors(canary, stable)
        if self.metric.kind is MetricKind.LATENCY:
            return self._latency(canary, stable)
        return self._business(canary, stable)

    def _errors(self, canary: VersionSample, stable: VersionSample) -> Verdict:
        increase = self.max_increase or 0.0
        above_ratio, _ = rate_ratio_p(
            canary.errors, canary.requests, stable.errors, stable.requests, 1.0 + increase
        )
        above_floor = excess_p(canary.errors, canary.requests, self.floor) if self.floor else 0.0
        p = max(above_ratio, above_floor)
        evidence: dict[str, Scalar] = {"p_ratio": above_ratio, "p_floor": above_floor}
        return self._decide(
            worse=p < self.alpha,
            canary=canary,
            stable=stable,
            p=p,
            evidence=evidence,
            direction="increase",
        )

    def _latency(self, canary: VersionSample, stable: VersionSample) -> Verdict:
        if canary.latency.bounds != stable.latency.bounds:
            return self._verdict(
                Outcome.INCONCLUSIVE,
                "the versions' latency histograms have different buckets and cannot be compared",
            )
        q = self.metric.quantile or 0.5
        ranks = mann_whitney_binned(canary.latency.counts, stable.latency.counts)
        ours, theirs = canary.latency.quantile(q), stable.latency.quantile(q)
        if ours is None or theirs is None:
            return self._verdict(Outcome.INCONCLUSIVE, "no latencies observed to compare")
        limit = latency_limit(theirs, self.max_increase)
        evidence: dict[str, Scalar] = {
            "limit": limit,
            "u": ranks.u,
            "z": ranks.z,
            "superiority": ranks.superiority,
        }
        worse = ranks.p < self.alpha and ours > limit
        return self._decide(
            worse=worse,
            canary=canary,
            stable=stable,
            p=ranks.p,
            evidence=evidence,
            direction="increase",
        )

    def _business(self, canary: VersionSample, stable: VersionSample) -> Verdict:
        name = self.metric.counter or ""
        ours, theirs = canary.counters.get(name), stable.counters.get(name)
        if ours is None or theirs is None:
            where = "canary" if ours is None else "stable version"
            return self._verdict(
                Outcome.INCONCLUSIVE, f"no {name} observed on the {where} to compare"
            )
        ratio = 1.0 - (self.max_decrease or 0.0)
        _, p = rate_ratio_p(ours, canary.requests, theirs, stable.requests, ratio)
        if ratio <= 0:
            p = 1.0  # a tolerated 100% decrease accepts anything
        return self._decide(
            worse=p < self.alpha,
            canary=canary,
            stable=stable,
            p=p,
            evidence={},
            direction="decrease",
        )

    def _decide(
        self,
        *,
        worse: bool,
        canary: VersionSample,
        stable: VersionSample,
        p: float,
        evidence: dict[str, Scalar],
        direction: str,
    ) -> Verdict:
        head = describe.head(self.metric, canary, stable)
        evidence = {
            "canary_requests": canary.requests,
            "stable_requests": stable.requests,
            "p_value": p,
            "alpha": self.alpha,
            **describe.observed(self.metric, canary, stable),
            **evidence,
        }
        if worse:
            return self._verdict(Outcome.FAIL, f"{head} ({fmt.p_value(p)})", evidence)
        tolerance = self.max_increase if direction == "increase" else self.max_decrease
        if tolerance:
            within = f"within the tolerated {fmt.share(tolerance)} {direction}"
        else:
            within = f"no significant {direction}"
        sentence = f"{head}, {within} ({fmt.p_value(p)})"
        return self._verdict(Outcome.PASS, sentence, evidence)

    def _verdict(
        self, outcome: Outcome, sentence: str, evidence: dict[str, Scalar] | None = None
    ) -> Verdict:
        return Verdict(self.metric.name, outcome, sentence, evidence or {})
