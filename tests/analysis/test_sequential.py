"""The sequential judge watches continuously: it fails a bad canary as soon as the evidence
allows, never before the minimum sample, and carries its state across looks as JSON."""

from __future__ import annotations

import json
import math

import pytest

from andon.analysis import (
    Look,
    Metric,
    MetricKind,
    Outcome,
    SequentialJudge,
    SequentialState,
    Verdict,
)
from andon.analysis import _mixtures as mix
from andon.errors import UsageError

ERRORS = Metric("errors", MetricKind.ERROR_RATE)
P95 = Metric("latency", MetricKind.LATENCY, quantile=0.95)
ORDERS = Metric("orders", MetricKind.BUSINESS, counter="shop_orders_total")


def watch(judge: SequentialJudge, looks: list[Look], through_json: bool = True) -> list[Verdict]:
    """Each look in turn, the state handed over as the reconciler would persist it."""
    state: SequentialState | None = None
    verdicts = []
    for look in looks:
        if state is not None and through_json:
            state = SequentialState.from_dict(json.loads(json.dumps(state.to_dict())))
        verdict = judge.judge(Look(look.canary, look.stable, look.elapsed, look.budget, state))
        state = verdict.state
        verdicts.append(verdict)
    return verdicts


def test_conditional_likelihood_ratio_by_hand() -> None:
    # equal exposures: under ψ = 1 each error is the canary's with probability 1/2, under
    # ψ = 2 with 2/3; 3 canary errors and 1 stable: (4/3)^3 * (2/3)
    [log_lr] = mix.conditional_increments(
        [2.0], 1.0, canary=3, canary_exposure=100, stable=1, stable_exposure=100
    )
    assert math.exp(log_lr) == pytest.approx((4 / 3) ** 3 * (2 / 3))


def test_bernoulli_likelihood_ratio_and_mixture_by_hand() -> None:
    [log_lr] = mix.bernoulli_increments([0.2], 0.1, hits=2, trials=10)
    assert math.exp(log_lr) == pytest.approx(2**2 * (0.8 / 0.9) ** 8)
    # the mixture is the plain average of the likelihood ratios: (1 + 3) / 2
    assert mix.log_mixture([0.0, math.log(3)]) == pytest.approx(math.log(2))


def test_an_error_spike_fails_at_the_first_look_with_enough_requests(sample) -> None:
    judge = SequentialJudge(ERRORS, max_increase=1.0)
    looks = [
        Look(sample(60, 6, at=3), sample(540, 0, version="stable", at=3), elapsed=3),
        Look(sample(120, 9, at=6), sample(1080, 1, version="stable", at=6), elapsed=6),
    ]
    first, second = watch(judge, looks)
    assert first.outcome is Outcome.INCONCLUSIVE  # 60 canary requests, 100 needed
    assert first.sentence.startswith("still watching: canary error rate 10% vs stable 0%")
    assert second.outcome is Outcome.FAIL
    assert second.sentence == (
        "canary error rate 7.5% vs stable 0.093% over 120 requests (p < 0.001, sequential)"
    )
    assert second.evidence["looks"] == 2


def test_a_failure_is_final(sample) -> None:
    judge = SequentialJudge(ERRORS)
    bad = Look(sample(200, 40), sample(2000, 0, version="stable"), elapsed=10)
    good = Look(sample(20000, 40), sample(200000, 200, version="stable"), elapsed=600)
    first, later = watch(judge, [bad, good])
    assert first.outcome is Outcome.FAIL
    assert later.outcome is Outcome.FAIL
    assert later.sentence == first.sentence
    assert later.state is not None and later.state.looks == 2


def test_json_state_resumes_exactly_where_it_stopped(sample) -> None:
    judge = SequentialJudge(ERRORS, max_increase=0.5)
    looks = [
        Look(
            sample(40 * t, t // 2, at=t),
            sample(400 * t, t // 4, version="stable", at=t),
            elapsed=t,
            budget=30,
        )
        for t in range(2, 32, 2)
    ]
    assert watch(judge, looks, through_json=True) == watch(judge, looks, through_json=False)


def test_out_of_time_with_too_little_traffic_is_inconclusive(sample) -> None:
    judge = SequentialJudge(ERRORS)
    look = Look(sample(42, 0), sample(380, 0, version="stable"), elapsed=60, budget=60)
    [verdict] = watch(judge, [look])
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.sentence == (
        "too little traffic to judge error rate in 60 s: canary 42 requests, "
        "stable 380 requests; needs 100 each"
    )


def test_out_of_time_without_a_regression_passes(sample) -> None:
    judge = SequentialJudge(ERRORS, max_increase=1.0)
    look = Look(sample(1200, 1), sample(10800, 11, version="stable"), elapsed=60, budget=60)
    [verdict] = watch(judge, [look])
    assert verdict.outcome is Outcome.PASS
    assert verdict.sentence == (
        "canary error rate 0.083% vs stable 0.1% over 1,200 requests in 60 s "
        "with no significant increase (p = 1.00)"
    )


def test_the_planned_maximum_sample_passes_a_canary_that_did_not_fail(sample) -> None:
    judge = SequentialJudge(ERRORS, max_samples=1000)
    look = Look(sample(1000, 1), sample(9000, 9, version="stable"), elapsed=50)
    [verdict] = watch(judge, [look])
    assert verdict.outcome is Outcome.PASS
    assert "the planned maximum" in verdict.sentence


def test_many_clean_requests_show_the_canary_below_the_floor(sample) -> None:
    judge = SequentialJudge(ERRORS)
    look = Look(sample(20000, 0), sample(20000, 0, version="stable"), elapsed=100)
    [verdict] = watch(judge, [look])
    assert verdict.outcome is Outcome.PASS
    assert verdict.sentence.startswith(
        "canary error rate 0% vs stable 0% over 20,000 requests: shown below the 0.1% floor"
    )


def test_without_a_stable_version_it_waits(sample) -> None:
    [verdict] = watch(SequentialJudge(ERRORS), [Look(sample(500, 100), None, elapsed=10)])
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.sentence == "no stable version to compare the canary's error rate with"


def test_latency_counts_slow_requests_above_a_bound_fixed_before_they_came(sample) -> None:
    judge = SequentialJudge(P95, max_increase=0.5)

    def at(t: int) -> Look:
        # stable p95: 100 ms + 150 ms * (0.95 * 1000t - 900t) / (100t) = 175 ms;
        # limit 262 ms, rounded out to the 500 ms bucket bound
        stable = sample(1000 * t, latency={0.1: 900 * t, 0.25: 100 * t}, version="stable", at=t)
        canary = sample(100 * t, latency={1.0: 100 * t}, at=t)
        return Look(canary, stable, elapsed=t)

    first, second = watch(judge, [at(1), at(2)])
    assert first.outcome is Outcome.INCONCLUSIVE  # no bound yet when the first batch came
    assert first.state is not None and first.state.fail_bound == 0.5
    assert second.outcome is Outcome.FAIL
    assert second.sentence == (
        "canary p95 latency 975 ms vs stable 175 ms over 200 requests (p < 0.001, sequential)"
    )
    assert second.evidence["bound"] == 0.5


def test_latency_never_bounded_by_the_stable_version_is_inconclusive_not_passed(sample) -> None:
    """Too few stable requests to know its p95: no canary request was ever tested, so
    running out of time must not read as "no significant increase"."""
    judge = SequentialJudge(P95, max_increase=0.5, min_samples=30)
    stable = sample(60, latency={0.005: 60}, version="stable")
    canary = sample(112, latency={0.5: 112})
    [verdict] = watch(judge, [Look(canary, stable, elapsed=10, budget=10)])
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.sentence == (
        "too little stable traffic to know its p95 latency in 10 s: 60 requests; needs 100"
    )


def test_fewer_orders_per_request_fail(sample) -> None:
    judge = SequentialJudge(ORDERS, max_decrease=0.1)
    looks = [
        Look(
            sample(500 * t, counters={"shop_orders_total": 25 * t}, at=t),
            sample(500 * t, counters={"shop_orders_total": 50 * t}, version="stable", at=t),
            elapsed=t,
        )
        for t in (5, 10, 15)
    ]
    verdicts = watch(judge, looks)
    assert verdicts[-1].outcome is Outcome.FAIL
    assert verdicts[-1].sentence.startswith("canary orders per request 0.05 vs stable 0.1 over")


def test_a_counter_reset_between_looks_is_not_read_as_a_drop(sample) -> None:
    judge = SequentialJudge(ORDERS)

    def at(t: int, canary_orders: int) -> Look:
        stable = sample(1000 * t, counters={"shop_orders_total": 100 * t}, version="stable", at=t)
        return Look(sample(1000 * t, counters={"shop_orders_total": canary_orders}, at=t), stable)

    # the canary's instance restarted after the first look: its counter fell from 100 to 0
    # and climbed to 95 on the next 1,000 requests, as many orders as the stable version's
    # 100 (a subtraction would read -5 orders: a collapse)
    verdicts = watch(judge, [at(1, 100), at(2, 95)])
    assert verdicts[-1].outcome is Outcome.INCONCLUSIVE
    assert verdicts[-1].evidence["p_value"] == 1.0


def test_request_rate_cannot_be_judged_sequentially() -> None:
    with pytest.raises(UsageError, match="give it a threshold"):
        SequentialJudge(Metric("traffic", MetricKind.REQUEST_RATE))
