"""The threshold judge holds the canary alone to fixed bounds, once it has enough traffic."""

from __future__ import annotations

import pytest

from andon.analysis import Look, Metric, MetricKind, Outcome, ThresholdJudge

ERRORS = Metric("errors", MetricKind.ERROR_RATE)
P95 = Metric("latency", MetricKind.LATENCY, quantile=0.95)
RATE = Metric("traffic", MetricKind.REQUEST_RATE)
ORDERS = Metric("orders", MetricKind.BUSINESS, counter="shop_orders_total")


def test_error_rate_above_the_limit_fails(sample) -> None:
    verdict = ThresholdJudge(ERRORS, max=0.01).judge(Look(sample(1830, 75), elapsed=60))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.sentence == "canary error rate 4.1% over 1,830 requests is above the 1% limit"
    assert verdict.evidence["value"] == pytest.approx(75 / 1830)


def test_error_rate_within_the_limit_passes(sample) -> None:
    verdict = ThresholdJudge(ERRORS, max=0.01).judge(Look(sample(1830, 3), elapsed=60))
    assert verdict.outcome is Outcome.PASS
    assert verdict.sentence == "canary error rate 0.16% over 1,830 requests, within the 1% limit"


def test_too_few_requests_is_inconclusive_whatever_they_show(sample) -> None:
    verdict = ThresholdJudge(ERRORS, max=0.01).judge(Look(sample(42, 40), elapsed=60))
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.sentence == (
        "too little traffic to judge error rate: 42 requests; needs 100 requests"
    )


def test_latency_quantile_is_interpolated_within_its_bucket(sample) -> None:
    # rank 950 of 1,000 lies 50 into the 100 requests of (250 ms, 500 ms]: 375 ms
    canary = sample(1000, latency={0.25: 900, 0.5: 100})
    verdict = ThresholdJudge(P95, max=0.3).judge(Look(canary, elapsed=60))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.sentence == (
        "canary p95 latency 375 ms over 1,000 requests is above the 300 ms limit"
    )
    assert verdict.evidence["value"] == pytest.approx(0.375)


def test_request_rate_is_judged_after_enough_time_not_enough_requests(sample) -> None:
    judge = ThresholdJudge(RATE, min=1.0, min_seconds=10)
    early = judge.judge(Look(sample(3, at=5.0), elapsed=5))
    assert early.outcome is Outcome.INCONCLUSIVE
    assert early.sentence == "too early to judge request rate: 5 s of the 10 s needed"
    late = judge.judge(Look(sample(30), elapsed=60))
    assert late.outcome is Outcome.FAIL
    assert late.sentence == "canary request rate 0.5 req/s over 60 s is below the 1 req/s minimum"


def test_business_rate_per_request_below_its_minimum_fails(sample) -> None:
    judge = ThresholdJudge(ORDERS, min=0.05)
    verdict = judge.judge(Look(sample(1000, counters={"shop_orders_total": 40}), elapsed=60))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.sentence == (
        "canary orders per request 0.04 over 1,000 requests is below the 0.05 minimum"
    )


def test_a_business_counter_never_seen_is_inconclusive(sample) -> None:
    verdict = ThresholdJudge(ORDERS, min=0.05).judge(Look(sample(1000), elapsed=60))
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.sentence == (
        "no shop_orders_total observed on the canary to judge orders per request"
    )


def test_both_bounds_are_named_when_passing(sample) -> None:
    judge = ThresholdJudge(ORDERS, min=0.01, max=0.1)
    verdict = judge.judge(Look(sample(1000, counters={"shop_orders_total": 40}), elapsed=60))
    assert verdict.outcome is Outcome.PASS
    assert verdict.sentence == (
        "canary orders per request 0.04 over 1,000 requests, within the bounds 0.01 to 0.1"
    )


def test_a_threshold_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="max or a min"):
        ThresholdJudge(ERRORS)
