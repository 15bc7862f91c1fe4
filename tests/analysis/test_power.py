"""Before a step starts, the power statement says whether its traffic can judge a metric in
the time given."""

from __future__ import annotations

import math

from andon.analysis import (
    ComparisonJudge,
    Metric,
    MetricKind,
    SequentialJudge,
    ThresholdJudge,
    Traffic,
    assess_power,
)

ERRORS = Metric("errors", MetricKind.ERROR_RATE)
P95 = Metric("latency", MetricKind.LATENCY, quantile=0.95)
ORDERS = Metric("orders", MetricKind.BUSINESS, counter="shop_orders_total")


def test_enough_traffic_is_said_with_the_numbers() -> None:
    statement = assess_power(SequentialJudge(ERRORS), Traffic(20, 180, 60), 0.001, 0.01)
    assert statement.enough
    assert statement.expected == 1200
    assert statement.sentence == (
        "at 20 req/s on the canary, 60 s gives 1,200 requests; detecting an error rate of "
        "1% vs 0.1% needs about 630: enough"
    )


def test_too_little_traffic_is_said_up_front() -> None:
    statement = assess_power(SequentialJudge(ERRORS), Traffic(10, 90, 60), 0.001, 0.01)
    assert not statement.enough
    assert statement.needed is not None and statement.needed > statement.expected
    assert statement.sentence == (
        "too little traffic to judge error rate in 60 s: detecting an error rate of 1% vs 0.1% "
        "needs ≈ 630 requests, will get ≈ 600"
    )


def test_the_needed_count_follows_the_divergence_per_request() -> None:
    # against the 0.1% floor a canary at 1% gains KL(1% || 0.1%) = 0.01407 nats per request;
    # the threshold is log(1/0.01) + log(9 alternatives) = 6.80 nats: 484 requests. (With
    # no stable errors, the ratio test gains log(10) per canary error and does not bind.)
    divergence = 0.01 * math.log(0.01 / 0.001) + 0.99 * math.log(0.99 / 0.999)
    statement = assess_power(SequentialJudge(ERRORS), Traffic(20, 180, 60), 0.0, 0.01)
    assert statement.needed == math.ceil((math.log(100) + math.log(9)) / divergence) == 484


def test_a_fixed_sample_comparison_needs_less_than_a_sequential_test() -> None:
    traffic = Traffic(20, 180, 60)
    fixed = assess_power(ComparisonJudge(ERRORS, alpha=0.01), traffic, 0.001, 0.01)
    sequential = assess_power(SequentialJudge(ERRORS), traffic, 0.001, 0.01)
    assert fixed.needed is not None and sequential.needed is not None
    assert fixed.needed < sequential.needed


def test_a_regression_within_the_tolerance_cannot_be_caught() -> None:
    judge = SequentialJudge(ERRORS, max_increase=1.0)
    statement = assess_power(judge, Traffic(20, 180, 60), 0.01, 0.015)
    assert not statement.enough
    assert statement.needed is None
    assert statement.sentence.endswith("cannot be caught: it is within the tolerance")


def test_latency_and_business_statements_name_what_is_detected() -> None:
    latency = assess_power(SequentialJudge(P95, max_increase=0.5), Traffic(20, 180, 10), 0, 0.5)
    assert latency.sentence == (
        "at 20 req/s on the canary, 10 s gives 200 requests; detecting 50% of requests slower "
        "than the tolerated p95 latency (instead of 5%) needs about 100: enough"
    )
    orders = assess_power(SequentialJudge(ORDERS), Traffic(20, 180, 60), 0.1, 0.07)
    assert orders.sentence == (
        "too little traffic to judge orders per request in 60 s: detecting orders per request "
        "of 0.07 vs 0.1 needs ≈ 1,500 requests, will get ≈ 1,200"
    )


def test_thresholds_need_their_minimum_sample_and_the_stable_side_its_own() -> None:
    statement = assess_power(ThresholdJudge(ERRORS, max=0.01), Traffic(1, 1, 60), 0, 0)
    assert statement.sentence == (
        "too little traffic on the stable version to judge error rate in 60 s: "
        "needs 100 requests, will get ≈ 60"
    )
    rate = ThresholdJudge(Metric("traffic", MetricKind.REQUEST_RATE), min=1.0, min_seconds=10)
    assert assess_power(rate, Traffic(1, 1, 5), 0, 0).sentence == (
        "request rate is judged after 10 s of traffic; the budget is 5 s: too short"
    )


def test_without_traffic_nothing_can_be_judged() -> None:
    judge = SequentialJudge(ERRORS)
    assert assess_power(judge, Traffic(0, 100, 60), 0.001, 0.01).sentence == (
        "no traffic reaches the canary: error rate cannot be judged"
    )
    assert assess_power(judge, Traffic(10, 0, 60), 0.001, 0.01).sentence == (
        "no traffic reaches the stable version to compare error rate with"
    )
