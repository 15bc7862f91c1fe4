"""Before an analysis starts: can it judge a metric in the time it is given?

The rollout planner asks this when a step begins (and ``andon rollout plan`` shows it), so
that a step that cannot gather enough traffic says so up front instead of pausing as
inconclusive at its end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from andon.analysis import _formatting as fmt
from andon.analysis import _mixtures as mix
from andon.analysis.comparing import ComparisonJudge
from andon.analysis.metrics import MetricKind
from andon.analysis.sequential import SequentialJudge
from andon.analysis.threshold import ThresholdJudge


@dataclass(frozen=True)
class Traffic:
    """The traffic an analysis expects."""

    canary_rate: float
    """Requests per second to the canary."""
    stable_rate: float
    """Requests per second to the stable version over the same time."""
    budget: float
    """Seconds the analysis may take."""


@dataclass(frozen=True)
class PowerStatement:
    """Whether a metric can be judged in the time given, and why."""

    metric: str
    enough: bool
    needed: int | None
    """Canary requests needed to catch the regression; None when it cannot be caught."""
    expected: int
    """Canary requests expected within the budget."""
    sentence: str


def assess_power(
    judge: SequentialJudge | ComparisonJudge | ThresholdJudge,
    traffic: Traffic,
    baseline: float,
    regression: float,
) -> PowerStatement:
    """Whether ``judge`` can catch a canary at ``regression`` while the stable version is at
    ``baseline``, with the traffic expected. It has no side effects.

    For error rate and business metrics, ``baseline`` and ``regression`` are rates per
    request (0.001 and 0.01 for errors; 0.1 and 0.07 orders per request); for latency
    they are shares of requests slower than the tolerated quantile (the baseline is
    ``1 - q`` by definition and ignored; 0.1 for p95 means twice the slow requests).

    The count needed is the expected sample of a sequential test to cross its threshold:
    ``(log(1/alpha) + log(grid)) / D`` where D is the information (Kullback-Leibler
    divergence) per canary request; a fixed-sample comparison needs a little less.
    """
    metric = judge.metric
    expected = math.floor(traffic.canary_rate * traffic.budget)
    stable_expected = math.floor(traffic.stable_rate * traffic.budget)
    what = _describe(judge, baseline, regression)
    if isinstance(judge, ThresholdJudge) and metric.kind is MetricKind.REQUEST_RATE:
        enough = traffic.budget >= judge.min_seconds
        sentence = (
            f"{metric.label} is judged after {fmt.seconds(judge.min_seconds)} of traffic; "
            f"the budget is {fmt.seconds(traffic.budget)}: {'enough' if enough else 'too short'}"
        )
        return PowerStatement(metric.name, enough, 0, expected, sentence)
    starved = _starved(judge, traffic)
    if starved is not None:
        return PowerStatement(metric.name, False, None, expected, starved)
    if isinstance(judge, ThresholdJudge):
        needed: int | None = judge.min_samples
    else:
        needed = _needed(judge, traffic, baseline, regression)
    intro = (
        f"at {fmt.per_second(traffic.canary_rate)} on the canary, "
        f"{fmt.seconds(traffic.budget)} gives {fmt.requests(expected)}"
    )
    if needed is None:
        sentence = f"{intro}; {what} cannot be caught: it is within the tolerance"
        return PowerStatement(metric.name, False, None, expected, sentence)
    min_samples = judge.min_samples
    enough = expected >= needed and stable_expected >= min_samples
    if enough:
        sentence = f"{intro}; {what} needs about {fmt.count(_rounded(needed))}: enough"
    elif stable_expected < min_samples:
        sentence = (
            f"too little traffic on the stable version to judge {metric.label} in "
            f"{fmt.seconds(traffic.budget)}: needs {fmt.count(min_samples)} requests, "
            f"will get ≈ {fmt.count(stable_expected)}"
        )
    else:
        sentence = (
            f"too little traffic to judge {metric.label} in {fmt.seconds(traffic.budget)}: "
            f"{what} needs ≈ {fmt.count(_rounded(needed))} requests, "
            f"will get ≈ {fmt.count(expected)}"
        )
    return PowerStatement(metric.name, enough, needed, expected, sentence)


def _starved(
    judge: SequentialJudge | ComparisonJudge | ThresholdJudge, traffic: Traffic
) -> str | None:
    """Why no amount of time would do, if that is so."""
    if traffic.canary_rate <= 0:
        return f"no traffic reaches the canary: {judge.metric.label} cannot be judged"
    if traffic.stable_rate <= 0 and not isinstance(judge, ThresholdJudge):
        return f"no traffic reaches the stable version to compare {judge.metric.label} with"
    return None


def _needed(
    judge: SequentialJudge | ComparisonJudge,
    traffic: Traffic,
    baseline: float,
    regression: float,
) -> int | None:
    metric = judge.metric
    stable_per_canary = traffic.stable_rate / traffic.canary_rate if traffic.canary_rate else 0
    if metric.kind is MetricKind.LATENCY:
        tail = 1.0 - (metric.quantile or 0.5)
        information = mix.bernoulli_divergence(regression, tail) if regression > tail else 0.0
    elif metric.kind is MetricKind.ERROR_RATE:
        ratio = 1.0 + (judge.max_increase or 0.0)
        information = _conditional(regression, baseline, stable_per_canary, ratio, upward=True)
        if judge.floor > 0:
            floor = (
                mix.bernoulli_divergence(regression, judge.floor)
                if regression > judge.floor
                else 0.0
            )
            information = min(information, floor)
    elif metric.kind is MetricKind.BUSINESS:
        ratio = 1.0 - (judge.max_decrease or 0.0)
        information = _conditional(regression, baseline, stable_per_canary, ratio, upward=False)
    else:
        return judge.min_samples
    if information <= 0:
        return None
    threshold = math.log(1.0 / judge.alpha)
    if isinstance(judge, SequentialJudge):
        threshold += math.log(len(mix.STEPS))
    return max(math.ceil(threshold / information), judge.min_samples)


def _conditional(
    canary: float, stable: float, stable_per_canary: float, ratio: float, upward: bool
) -> float:
    """Information per canary request of the conditional test: events per canary request
    times the divergence of the canary's share of them from the share under the null."""
    events = canary + stable * stable_per_canary
    if events <= 0 or ratio <= 0:
        return 0.0
    share = canary / events
    null = ratio / (ratio + stable_per_canary)
    # Without stable traffic every event is the canary's under any ratio: nothing to learn.
    if null >= 1 or ((share <= null) if upward else (share >= null)):
        return 0.0
    return events * mix.bernoulli_divergence(share, null)


def _describe(
    judge: SequentialJudge | ComparisonJudge | ThresholdJudge, baseline: float, regression: float
) -> str:
    metric = judge.metric
    if isinstance(judge, ThresholdJudge):
        return f"judging {metric.label} against its bounds"
    if metric.kind is MetricKind.ERROR_RATE:
        return f"detecting an error rate of {fmt.percent(regression)} vs {fmt.percent(baseline)}"
    if metric.kind is MetricKind.LATENCY:
        tail = 1.0 - (metric.quantile or 0.5)
        return (
            f"detecting {fmt.percent(regression)} of requests slower than the tolerated "
            f"{metric.label} (instead of {fmt.percent(tail)})"
        )
    if metric.kind is MetricKind.BUSINESS:
        return f"detecting {metric.label} of {fmt.number(regression)} vs {fmt.number(baseline)}"
    return f"judging {metric.label}"


def _rounded(count: int) -> int:
    """Two significant digits, rounded up: an estimate should not look precise."""
    if count < 100:
        return count
    scale = 10 ** (len(str(count)) - 2)
    return int(math.ceil(count / scale) * scale)
