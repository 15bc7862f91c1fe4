"""The sequential judge: the canary against the stable version, watched continuously.

The rollout reconciler shows it each analysis interval's :class:`Look` together with the
:class:`SequentialState` it returned last time (persisted as JSON between looks, so that a
restarted server resumes the same test). It fails a bad canary as soon as the evidence
allows and keeps its false-alarm rate at ``alpha`` however often it is looked at: each
test is a mixture sequential probability ratio test (mSPRT), whose mixture likelihood ratio
is a nonnegative martingale under the null hypothesis, so Ville's inequality bounds the
chance that it ever crosses ``1/alpha``.

- error rate: the errors of each batch (between two looks), conditioned on their total,
  fall to the canary with probability ``ψ·n_c / (ψ·n_c + n_s)``; the test is against a
  rate ratio ``ψ`` above ``1 + max_increase``, with the stable rate cancelled out. A
  second, one-sample test against ``floor`` must reject too (intersection-union), so a
  stray error does not fail a canary because the stable version had none.
- business counter per request: the same conditional test, against a ratio below
  ``1 - max_decrease``.
- latency: the share of canary requests slower than ``(1 + max_increase)`` times the
  stable quantile (rounded out to a bucket bound, the bound fixed before each batch) must
  not exceed ``1 - q``; a one-sample Bernoulli test per batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from andon.analysis import _describing as describe
from andon.analysis import _formatting as fmt
from andon.analysis import _mixtures as mix
from andon.analysis.metrics import Metric, MetricKind, latency_limit
from andon.analysis.samples import VersionSample, window
from andon.analysis.verdicts import Look, Outcome, Scalar, Verdict
from andon.errors import UsageError

_TAIL = 5
"""Stable observations expected above a latency quantile before its estimate is used (100
for a p95): enough to place it within the histogram's buckets, which is all the bound
(rounded out to a bucket) asks of it."""


@dataclass(frozen=True)
class SequentialState:
    """What a :class:`SequentialJudge` remembers between looks, as plain data."""

    looks: int = 0
    canary: VersionSample | None = None
    """The canary's window at the previous look; the next batch is what it added since."""
    stable: VersionSample | None = None
    log_lrs: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    """Per test, the log-likelihood ratio of each alternative on its grid."""
    peaks: Mapping[str, float] = field(default_factory=dict)
    """Per test, the highest log mixture likelihood ratio reached."""
    fail_bound: float | None = None
    """Latency: the bucket bound the next batch's canary requests are counted above."""
    pass_bound: float | None = None
    decision: Verdict | None = None
    """The verdict once final (FAIL, PASS, or out of time); later looks repeat it."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, for the reconciler to persist."""
        return {
            "looks": self.looks,
            "canary": None if self.canary is None else self.canary.to_dict(),
            "stable": None if self.stable is None else self.stable.to_dict(),
            "log_lrs": {name: list(values) for name, values in self.log_lrs.items()},
            "peaks": dict(self.peaks),
            "fail_bound": self.fail_bound,
            "pass_bound": self.pass_bound,
            "decision": None if self.decision is None else self.decision.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SequentialState:
        """The state :meth:`to_dict` wrote."""
        canary, stable, decision = data.get("canary"), data.get("stable"), data.get("decision")
        return cls(
            looks=int(data.get("looks", 0)),
            canary=None if canary is None else VersionSample.from_dict(canary),
            stable=None if stable is None else VersionSample.from_dict(stable),
            log_lrs={
                str(name): tuple(float(v) for v in values)
                for name, values in data.get("log_lrs", {}).items()
            },
            peaks={str(name): float(v) for name, v in data.get("peaks", {}).items()},
            fail_bound=data.get("fail_bound"),
            pass_bound=data.get("pass_bound"),
            decision=None if decision is None else Verdict.from_dict(decision),
        )


@dataclass(frozen=True)
class _Test:
    name: str
    role: Literal["fail", "pass"]
    null: float
    alternatives: tuple[float, ...]


@dataclass(frozen=True)
class SequentialJudge:
    """Watches the canary against the stable version and stops as early as the evidence
    allows, with a false-alarm rate of at most ``alpha`` under optional stopping. It has
    no side effects.

    FAIL when the canary is worse than the tolerance; PASS when it is shown not to be (at
    error rate ``beta``), or it served ``max_samples`` requests, or the look's budget ran
    out, without failing; INCONCLUSIVE while watching, and when the budget runs out before
    both versions served ``min_samples`` requests.
    """

    metric: Metric
    max_increase: float | None = None
    """Tolerated increase as a fraction (error rate, latency): 1.0 accepts twice stable."""
    max_decrease: float | None = None
    """Tolerated decrease as a fraction (business counter per request)."""
    floor: float = 0.001
    """An error rate the canary may always have, whatever the stable one."""
    alpha: float = 0.01
    """Chance of failing a canary that is within the tolerance, over all looks."""
    beta: float = 0.05
    """Chance of passing early a canary that is worse than the tolerance."""
    min_samples: int = 100
    """Requests each version must have served before any PASS or FAIL."""
    max_samples: int | None = None
    """Canary requests after which a canary that has not failed passes."""

    def __post_init__(self) -> None:
        if self.metric.kind is MetricKind.REQUEST_RATE:
            raise UsageError(
                f"metric '{self.metric.name}': request_rate cannot be compared with the "
                "baseline, because each version's rate follows its traffic weight; "
                "give it a threshold instead"
            )

    def judge(self, look: Look) -> Verdict:
        """The verdict on ``look``, carrying the state for the next look."""
        state, verdict = self.advance(look.state or SequentialState(), look)
        return replace(verdict, state=state)

    def advance(self, state: SequentialState, look: Look) -> tuple[SequentialState, Verdict]:
        """Add what happened since the previous look to the tests and decide."""
        if state.decision is not None:
            return replace(state, looks=state.looks + 1), state.decision
        stable = look.stable
        if stable is None:
            verdict = self._verdict(
                Outcome.INCONCLUSIVE,
                f"no stable version to compare the canary's {self.metric.label} with",
                {},
            )
            return replace(state, looks=state.looks + 1), verdict
        state = self._observe(state, look.canary, stable)
        return self._decide(state, look, stable)

    # -- the tests

    def _tests(self) -> list[_Test]:
        kind = self.metric.kind
        if kind is MetricKind.ERROR_RATE:
            ratio = 1.0 + (self.max_increase or 0.0)
            tests = [
                _Test("worse", "fail", ratio, mix.ratio_grid(ratio, upward=True)),
                _Test("within", "pass", ratio, mix.ratio_grid(ratio, upward=False)),
            ]
            if self.floor > 0:
                tests += [
                    _Test("above_floor", "fail", self.floor, mix.share_grid(self.floor, True)),
                    _Test("below_floor", "pass", self.floor, mix.share_grid(self.floor, False)),
                ]
            return tests
        if kind is MetricKind.BUSINESS:
            ratio = 1.0 - (self.max_decrease or 0.0)
            if ratio <= 0:  # a tolerated 100% decrease accepts anything
                return []
            return [
                _Test("worse", "fail", ratio, mix.ratio_grid(ratio, upward=False)),
                _Test("within", "pass", ratio, mix.ratio_grid(ratio, upward=True)),
            ]
        tail = 1.0 - (self.metric.quantile or 0.5)
        return [
            _Test("slow", "fail", tail, mix.share_grid(tail, upward=True)),
            _Test("fast", "pass", tail, mix.share_grid(tail, upward=False)),
        ]

    def _observe(
        self, state: SequentialState, canary: VersionSample, stable: VersionSample
    ) -> SequentialState:
        ours = canary if state.canary is None else window(state.canary, canary)
        theirs = stable if state.stable is None else window(state.stable, stable)
        log_lrs, peaks = dict(state.log_lrs), dict(state.peaks)
        for test in self._tests():
            previous = log_lrs.get(test.name) or (0.0,) * len(test.alternatives)
            increments = self._increments(test, state, ours, theirs)
            current = tuple(a + b for a, b in zip(previous, increments, strict=True))
            log_lrs[test.name] = current
            peaks[test.name] = max(peaks.get(test.name, 0.0), mix.log_mixture(current))
        fail_bound, pass_bound = self._bounds(stable, state)
        return SequentialState(
            looks=state.looks + 1,
            canary=canary,
            stable=stable,
            log_lrs=log_lrs,
            peaks=peaks,
            fail_bound=fail_bound,
            pass_bound=pass_bound,
        )

    def _increments(
        self, test: _Test, state: SequentialState, ours: VersionSample, theirs: VersionSample
    ) -> list[float]:
        kind = self.metric.kind
        if kind is MetricKind.ERROR_RATE and test.name in ("worse", "within"):
            return mix.conditional_increments(
                test.alternatives,
                test.null,
                canary=ours.errors,
                canary_exposure=ours.requests,
                stable=theirs.errors,
                stable_exposure=theirs.requests,
            )
        if kind is MetricKind.ERROR_RATE:
            return mix.bernoulli_increments(
                test.alternatives, test.null, ours.errors, ours.requests
            )
        if kind is MetricKind.BUSINESS:
            name = self.metric.counter or ""
            if name not in ours.counters or name not in theirs.counters:
                # A batch without the counter on both sides says nothing about the ratio.
                return [0.0] * len(test.alternatives)
            return mix.conditional_increments(
                test.alternatives,
                test.null,
                canary=ours.counters[name],
                canary_exposure=ours.requests,
                stable=theirs.counters[name],
                stable_exposure=theirs.requests,
            )
        # Latency: the bound was fixed from the stable version before this batch arrived,
        # which keeps the likelihood ratio a martingale.
        bound = state.fail_bound if test.role == "fail" else state.pass_bound
        if bound is None or bound not in ours.latency.bounds:
            return [0.0] * len(test.alternatives)
        hits = ours.latency.above(bound)
        return mix.bernoulli_increments(test.alternatives, test.null, hits, ours.latency.total)

    def _bounds(
        self, stable: VersionSample, state: SequentialState
    ) -> tuple[float | None, float | None]:
        if self.metric.kind is not MetricKind.LATENCY:
            return None, None
        q = self.metric.quantile or 0.5
        histogram = stable.latency
        if histogram.total < max(self.min_samples, math.ceil(_TAIL / (1.0 - q))):
            return state.fail_bound, state.pass_bound
        quantile = histogram.quantile(q)
        if quantile is None:
            return state.fail_bound, state.pass_bound
        limit = latency_limit(quantile, self.max_increase)
        # Rounding the limit out to a bucket bound errs toward the canary for FAIL and
        # against it for PASS: neither test claims more than the buckets can show.
        above = [b for b in histogram.bounds if b >= limit]
        below = [b for b in histogram.bounds if b <= limit]
        return (above[0] if above else None), (below[-1] if below else None)

    # -- the decision

    def _decide(
        self, state: SequentialState, look: Look, stable: VersionSample
    ) -> tuple[SequentialState, Verdict]:
        tests = self._tests()
        failing = [t for t in tests if t.role == "fail"]
        passing = [t for t in tests if t.role == "pass"]
        fail_peak = min((state.peaks.get(t.name, 0.0) for t in failing), default=0.0)
        best = max(passing, key=lambda t: state.peaks.get(t.name, 0.0), default=None)
        pass_peak = 0.0 if best is None else state.peaks.get(best.name, 0.0)
        p = min(1.0, math.exp(-fail_peak))
        canary = look.canary
        enough = canary.requests >= self.min_samples and stable.requests >= self.min_samples
        # Latency is tested against a bound from the stable version's quantile: without
        # one, no canary request was tested, and running out of time proves nothing.
        unbounded = self.metric.kind is MetricKind.LATENCY and state.fail_bound is None
        enough = enough and not unbounded
        head = describe.head(self.metric, canary, stable)
        evidence: dict[str, Scalar] = {
            "canary_requests": canary.requests,
            "stable_requests": stable.requests,
            "p_value": p,
            "log_likelihood_ratio": fail_peak,
            "alpha": self.alpha,
            "looks": state.looks,
            "elapsed": look.elapsed,
            **describe.observed(self.metric, canary, stable),
        }
        if self.metric.kind is MetricKind.LATENCY:
            evidence["bound"] = state.fail_bound
        out_of_time = look.budget is not None and look.elapsed >= look.budget
        pass_level = math.log(max(len(passing), 1) / self.beta)
        if enough and failing and fail_peak >= math.log(1.0 / self.alpha):
            outcome, sentence = Outcome.FAIL, f"{head} ({fmt.p_value(p)}, sequential)"
        elif enough and passing and pass_peak >= pass_level:
            shown = fmt.p_value(math.exp(-pass_peak) * len(passing))
            outcome = Outcome.PASS
            sentence = f"{head}: shown {self._tolerance(best)} ({shown}, sequential)"
        elif enough and self.max_samples is not None and canary.requests >= self.max_samples:
            outcome = Outcome.PASS
            sentence = f"{head}, the planned maximum, with no {self._worse()} ({fmt.p_value(p)})"
        elif out_of_time and enough:
            outcome = Outcome.PASS
            sentence = (
                f"{head} in {fmt.seconds(look.elapsed)} with no {self._worse()} ({fmt.p_value(p)})"
            )
        elif out_of_time and unbounded:
            outcome = Outcome.INCONCLUSIVE
            needed = max(self.min_samples, math.ceil(_TAIL / (1.0 - (self.metric.quantile or 0.5))))
            sentence = (
                f"too little stable traffic to know its {self.metric.label} in "
                f"{fmt.seconds(look.elapsed)}: {fmt.requests(stable.requests)}; needs "
                f"{fmt.count(needed)}"
            )
        elif out_of_time:
            outcome = Outcome.INCONCLUSIVE
            sentence = (
                f"too little traffic to judge {self.metric.label} in "
                f"{fmt.seconds(look.elapsed)}: canary {fmt.requests(canary.requests)}, "
                f"stable {fmt.requests(stable.requests)}; needs "
                f"{fmt.count(self.min_samples)} each"
            )
        else:
            verdict = self._verdict(
                Outcome.INCONCLUSIVE, f"still watching: {head} so far ({fmt.p_value(p)})", evidence
            )
            return state, verdict
        verdict = self._verdict(outcome, sentence, evidence)
        return replace(state, decision=verdict), verdict

    def _tolerance(self, test: _Test | None) -> str:
        if test is not None and test.name == "below_floor":
            return f"below the {fmt.percent(self.floor)} floor"
        if self.metric.kind is MetricKind.BUSINESS:
            tolerated = self.max_decrease
            return (
                f"within the tolerated {fmt.share(tolerated)} decrease"
                if tolerated
                else "not lower"
            )
        tolerated = self.max_increase
        return (
            f"within the tolerated {fmt.share(tolerated)} increase" if tolerated else "not higher"
        )

    def _worse(self) -> str:
        if self.metric.kind is MetricKind.BUSINESS:
            return "significant decrease"
        return "significant increase"

    def _verdict(self, outcome: Outcome, sentence: str, evidence: dict[str, Scalar]) -> Verdict:
        return Verdict(self.metric.name, outcome, sentence, evidence)
