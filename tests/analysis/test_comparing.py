"""The comparing judge tests the canary against the stable version at one look: exact
tests for counts, Mann-Whitney U for latency, always one-sided and with a tolerance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from andon.analysis import ComparisonJudge, Look, Metric, MetricKind, Outcome
from andon.analysis._statistics import mann_whitney_binned
from andon.errors import UsageError

ERRORS = Metric("errors", MetricKind.ERROR_RATE)
P95 = Metric("latency", MetricKind.LATENCY, quantile=0.95)
ORDERS = Metric("orders", MetricKind.BUSINESS, counter="shop_orders_total")


def test_an_error_spike_fails_with_the_sentence_people_read(sample) -> None:
    look = Look(sample(1830, 75), sample(16470, 33, version="stable"), elapsed=60)
    verdict = ComparisonJudge(ERRORS, max_increase=1.0).judge(look)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.sentence == (
        "canary error rate 4.1% vs stable 0.2% over 1,830 requests (p < 0.001)"
    )
    assert verdict.evidence["canary_errors"] == 75
    assert verdict.evidence["stable_requests"] == 16470


def test_one_error_is_not_a_failure_because_stable_had_none(sample) -> None:
    look = Look(sample(200, 1), sample(5000, 0, version="stable"), elapsed=60)
    verdict = ComparisonJudge(ERRORS).judge(look)
    # conditional test: the one error is the canary's with probability 200/5,200 (p = 0.038);
    # against the 0.1% floor: 1 - 0.999^200 = 0.18; both must reject, so p = 0.18
    assert verdict.evidence["p_ratio"] == pytest.approx(200 / 5200)
    assert verdict.evidence["p_floor"] == pytest.approx(1 - 0.999**200)
    assert verdict.outcome is Outcome.PASS
    assert verdict.sentence == (
        "canary error rate 0.5% vs stable 0% over 200 requests, no significant increase (p = 0.18)"
    )
    without_floor = ComparisonJudge(ERRORS, floor=0.0).judge(look)
    assert without_floor.outcome is Outcome.FAIL


def test_an_increase_within_the_tolerance_passes(sample) -> None:
    look = Look(sample(1000, 18), sample(10000, 100, version="stable"), elapsed=60)
    verdict = ComparisonJudge(ERRORS, max_increase=1.0).judge(look)
    # under a ratio of 2, each of the 118 errors is the canary's with probability 2,000/12,000
    assert verdict.evidence["p_ratio"] == pytest.approx(stats.binom.sf(17, 118, 1 / 6))
    assert verdict.outcome is Outcome.PASS
    assert verdict.sentence.startswith(
        "canary error rate 1.8% vs stable 1% over 1,000 requests, "
        "within the tolerated 100% increase"
    )


def test_too_few_requests_on_either_side_is_inconclusive(sample) -> None:
    look = Look(sample(500, 100), sample(40, 0, version="stable"), elapsed=60)
    verdict = ComparisonJudge(ERRORS).judge(look)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.sentence == (
        "too little traffic to compare error rate: canary 500 requests, stable 40 requests; "
        "needs 100 each"
    )


def test_without_a_stable_version_there_is_nothing_to_compare(sample) -> None:
    verdict = ComparisonJudge(ERRORS).judge(Look(sample(500, 100), None, elapsed=60))
    assert verdict.outcome is Outcome.INCONCLUSIVE


def test_a_slower_canary_fails_on_ranks_and_quantile(sample) -> None:
    canary = sample(1000, latency={0.25: 400, 0.5: 600})
    stable = sample(10000, latency={0.1: 9000, 0.25: 1000}, version="stable")
    verdict = ComparisonJudge(P95, max_increase=0.5).judge(Look(canary, stable, elapsed=60))
    # p95: 250 ms + 250 ms * 550/600 = 479 ms; stable 100 ms + 150 ms * 500/1000 = 175 ms
    assert verdict.outcome is Outcome.FAIL
    assert verdict.sentence == (
        "canary p95 latency 479 ms vs stable 175 ms over 1,000 requests (p < 0.001)"
    )


def test_a_significant_but_tolerated_slowdown_passes(sample) -> None:
    canary = sample(10000, latency={0.1: 8000, 0.25: 2000})
    stable = sample(10000, latency={0.1: 9000, 0.25: 1000}, version="stable")
    verdict = ComparisonJudge(P95, max_increase=0.5).judge(Look(canary, stable, elapsed=60))
    assert verdict.evidence["p_value"] < 0.001
    assert verdict.outcome is Outcome.PASS
    assert verdict.sentence == (
        "canary p95 latency 213 ms vs stable 175 ms over 10,000 requests, "
        "within the tolerated 50% increase (p < 0.001)"
    )


def test_binned_mann_whitney_matches_scipy_on_the_expanded_data() -> None:
    canary = [3, 10, 25, 40, 12, 0, 2]
    stable = [30, 60, 90, 70, 20, 5, 0]
    ours = mann_whitney_binned(canary, stable)
    x = np.repeat(np.arange(len(canary)), canary)
    y = np.repeat(np.arange(len(stable)), stable)
    theirs = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic")
    assert ours.u == pytest.approx(theirs.statistic)
    assert ours.p == pytest.approx(theirs.pvalue)


def test_binned_mann_whitney_by_hand() -> None:
    # every canary observation above every stable one: U = 2 * 2 = 4; ties of two in each
    # bucket: variance = 4/12 * (5 - 12/12) = 4/3; z = (4 - 2 - 0.5) / sqrt(4/3)
    ranks = mann_whitney_binned([0, 2], [2, 0])
    assert ranks.u == 4
    assert ranks.z == pytest.approx(1.5 / math.sqrt(4 / 3))
    assert ranks.superiority == 1.0
    assert mann_whitney_binned([5, 0], [7, 0]).p == 1.0


def test_fewer_orders_per_request_fail_beyond_the_tolerated_decrease(sample) -> None:
    canary = sample(1000, counters={"shop_orders_total": 40})
    stable = sample(10000, counters={"shop_orders_total": 1000}, version="stable")
    verdict = ComparisonJudge(ORDERS, max_decrease=0.3).judge(Look(canary, stable, elapsed=60))
    # at 70% of the stable rate, each of the 1,040 orders is the canary's with
    # probability 700/10,700; 40 or fewer of them is rare
    assert verdict.evidence["p_value"] == pytest.approx(stats.binom.cdf(40, 1040, 700 / 10700))
    assert verdict.outcome is Outcome.FAIL
    assert verdict.sentence == (
        "canary orders per request 0.04 vs stable 0.1 over 1,000 requests (p < 0.001)"
    )


def test_a_business_counter_missing_on_one_side_is_inconclusive(sample) -> None:
    canary = sample(1000)
    stable = sample(10000, counters={"shop_orders_total": 1000}, version="stable")
    verdict = ComparisonJudge(ORDERS).judge(Look(canary, stable, elapsed=60))
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.sentence == "no shop_orders_total observed on the canary to compare"


def test_request_rate_cannot_be_compared() -> None:
    with pytest.raises(UsageError, match="give it a threshold"):
        ComparisonJudge(Metric("traffic", MetricKind.REQUEST_RATE))
