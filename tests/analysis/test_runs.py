"""Analysis runs driven over simulated time: the router's snapshots (and the instances'
counters, webhooks' answers, Prometheus' values) grow tick by tick, and the run is looked
at every interval as the rollout reconciler will, persisted as JSON between looks."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest

from andon.analysis import (
    AnalysisRunState,
    Answer,
    Observed,
    Outcome,
    RunVerdict,
    Traffic,
    VersionSample,
    begin_run,
    samples_from_snapshot,
    take_look,
    window,
)
from andon.errors import UsageError
from andon.rollout import Verdict as RolloutVerdict
from andon.spec import AnalysisSpec

from .conftest import BOUNDS

NOON = 1_699_920_000 + 12 * 3600 + 3 * 60 + 4
"""A UNIX time whose UTC time of day is 12:03:04."""
ORDERS = "shop_orders_total"


@dataclass(frozen=True)
class Arm:
    """One version's traffic: requests per second, the share that fails (5xx), the share
    that is slow (500 ms instead of 50 ms), and orders per request."""

    rate: float
    errors: float = 0.002
    slow: float = 0.0
    orders: float = 0.1


@dataclass
class Shop:
    """Two versions serving from ``start``; their cumulative counts at any later time."""

    arms: Mapping[str, Arm]
    start: float = NOON
    offset: Mapping[str, int] = field(default_factory=dict)
    """Requests each version had served before ``start``."""

    def counts(self, version: str, now: float) -> tuple[int, int, int, int]:
        arm = self.arms[version]
        served = self.offset.get(version, 0) + math.floor(arm.rate * (now - self.start))
        errors = math.floor(served * arm.errors)
        slow = math.floor(served * arm.slow)
        return served, errors, slow, math.floor(served * arm.orders)

    def snapshot(self, now: float) -> dict[str, object]:
        versions = {}
        for version in self.arms:
            served, errors, slow, _ = self.counts(version, now)
            counts = [0] * (len(BOUNDS) + 1)
            counts[BOUNDS.index(0.05)] = served - slow
            counts[BOUNDS.index(0.5)] = slow
            versions[version] = {
                "requests": {"2xx": served - errors, "5xx": errors},
                "latency": {"buckets": list(BOUNDS), "counts": counts, "sum": 0.0},
            }
        return {"env": "prod", "versions": versions}

    def counters(self, now: float) -> dict[str, dict[str, float]]:
        return {version: {ORDERS: float(self.counts(version, now)[3])} for version in self.arms}

    def observe(self, now: float, *, router: bool = True, **extra: object) -> Observed:
        if not router:
            down = {"router": "the agent at 127.0.0.1:7001 refused the connection."}
            return Observed(counters=self.counters(now), unreachable=down, **extra)  # type: ignore[arg-type]
        return Observed(snapshot=self.snapshot(now), counters=self.counters(now), **extra)  # type: ignore[arg-type]


def analysis(*metrics: dict[str, object], **settings: object) -> AnalysisSpec:
    return AnalysisSpec.model_validate(
        {"interval": "10s", "min_samples": 200, **settings, "metrics": list(metrics)}
    )


ERRORS = {
    "name": "errors",
    "query": "error_rate",
    "threshold": {"max": "1%"},
    "baseline": {"max_increase": "100%"},
}
LATENCY = {"name": "latency", "query": "latency_p95", "threshold": {"max": "300ms"}}
ORDERS_METRIC = {
    "name": "orders",
    "provider": "app",
    "query": f"rate({ORDERS}[1m])",
    "baseline": {"max_decrease": "30%"},
    "min_samples": 20,
}

Observe = Callable[[float], Observed]


def drive(
    state: AnalysisRunState,
    spec: AnalysisSpec,
    observe: Observe,
    *,
    every: float = 10.0,
    until: float = 3600.0,
    persist: bool = True,
) -> tuple[AnalysisRunState, RunVerdict, float]:
    """Look every ``every`` seconds until a verdict; the state goes through JSON between
    looks, as the reconciler stores it."""
    now = state.started_at
    while now < state.started_at + until:
        now += every
        if persist:
            stored = AnalysisRunState.from_dict(json.loads(json.dumps(state.to_dict())))
            assert stored == state
            state = stored
        state, verdict = take_look(state, spec, observe(now), now)
        if verdict is not None:
            return state, verdict, now - state.started_at
    raise AssertionError(f"no verdict in {until:g} s")


def start(
    shop: Shop, spec: AnalysisSpec, *, duration: float | None = 300.0, **options: object
) -> AnalysisRunState:
    stable = "v1" if "v1" in shop.arms else None
    return begin_run(
        1,
        "v2",
        stable,
        (),
        duration,
        analysis=spec,
        observed=shop.observe(shop.start),
        now=shop.start,
        **options,  # type: ignore[arg-type]
    )


# Canary against stable.


def test_a_canary_with_many_errors_fails_at_once_with_a_readable_sentence() -> None:
    shop = Shop({"v2": Arm(20, errors=0.05), "v1": Arm(180, errors=0.002)})
    spec = analysis(ERRORS, LATENCY)

    _, verdict, elapsed = drive(start(shop, spec), spec, shop.observe)

    assert verdict.outcome is Outcome.FAIL
    assert elapsed < 60
    assert verdict.sentence == (
        "errors failed: canary error rate 5% vs stable 0.17% over 200 requests "
        "(p < 0.001, sequential); latency inconclusive"
    )
    assert verdict.evidence["errors"]["canary_errors"] == 10


def test_a_canary_as_good_as_stable_passes_when_the_duration_ends() -> None:
    shop = Shop({"v2": Arm(20), "v1": Arm(180)})
    spec = analysis(ERRORS, LATENCY, ORDERS_METRIC)

    state, verdict, elapsed = drive(start(shop, spec), spec, shop.observe)

    assert verdict.outcome is Outcome.PASS
    assert elapsed == 300
    assert verdict.sentence == "all 3 metrics passed: errors, latency and orders"
    assert state.failed_looks == 0
    assert set(verdict.evidence) == {"errors", "latency", "orders"}


def test_without_a_duration_a_good_canary_passes_as_soon_as_every_judge_can_tell() -> None:
    shop = Shop({"v2": Arm(50, errors=0.0), "v1": Arm(50, errors=0.0)})
    spec = analysis(ERRORS)

    _, verdict, elapsed = drive(start(shop, spec, duration=None), spec, shop.observe)

    assert verdict.outcome is Outcome.PASS
    assert elapsed < 900
    assert verdict.sentence.startswith("errors passed: canary error rate 0%")


def test_a_slow_canary_fails_on_its_latency_bound() -> None:
    shop = Shop({"v2": Arm(20, slow=0.2), "v1": Arm(180)})
    spec = analysis(ERRORS, LATENCY, failure_limit=0)

    _, verdict, elapsed = drive(start(shop, spec), spec, shop.observe)

    assert verdict.outcome is Outcome.FAIL
    assert verdict.sentence.startswith("latency failed: canary p95 latency")
    assert "above the 300 ms limit" in verdict.sentence
    assert elapsed <= 20


def test_a_canary_that_takes_fewer_orders_fails_on_the_counters_of_its_instances() -> None:
    shop = Shop({"v2": Arm(30, orders=0.02), "v1": Arm(120, orders=0.1)})
    spec = analysis(ORDERS_METRIC)

    _, verdict, _ = drive(start(shop, spec), spec, shop.observe)

    assert verdict.outcome is Outcome.FAIL
    assert verdict.sentence.startswith(
        "orders failed: canary orders per request 0.02 vs stable 0.1"
    )


def test_too_little_traffic_is_inconclusive_and_says_what_is_missing() -> None:
    shop = Shop({"v2": Arm(0.25), "v1": Arm(2.25)})
    spec = analysis(ERRORS)

    state, verdict, elapsed = drive(start(shop, spec), spec, shop.observe)

    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert elapsed == 300
    assert verdict.sentence == (
        "errors inconclusive: too little traffic to judge error rate: 75 requests; "
        "needs 200 requests"
    )
    assert not state.power[0].enough
    assert "too little traffic" in state.power[0].sentence or "needs" in state.power[0].sentence


def test_the_power_statement_says_up_front_that_the_step_is_too_short() -> None:
    shop = Shop({"v2": Arm(0.25), "v1": Arm(2.25)})
    spec = analysis(ERRORS)
    expected = Traffic(canary_rate=0.25, stable_rate=2.25, budget=300.0)

    state = start(shop, spec, traffic=expected)

    assert [statement.enough for statement in state.power] == [False, False]
    assert state.power[0].sentence == (
        "too little traffic to judge error rate in 300 s: judging error rate against its "
        "bounds needs ≈ 200 requests, will get ≈ 75"
    )


def test_a_router_unreachable_for_the_whole_budget_is_inconclusive_never_a_pass() -> None:
    shop = Shop({"v2": Arm(20), "v1": Arm(180)})
    spec = analysis(ERRORS, LATENCY)
    state = begin_run(
        1,
        "v2",
        "v1",
        (),
        300.0,
        analysis=spec,
        observed=shop.observe(NOON, router=False),
        now=NOON,
    )

    state, verdict, elapsed = drive(state, spec, lambda now: shop.observe(now, router=False))

    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert elapsed == 310  # the budget, and one interval for the router to come back
    assert verdict.sentence == (
        "errors inconclusive: metric source router unreachable since 12:03:04 UTC (the "
        "agent at 127.0.0.1:7001 refused the connection); latency also inconclusive"
    )
    assert state.failed_looks == state.looks == 31


def test_a_router_that_misses_some_looks_still_gives_the_verdict_of_whole_windows() -> None:
    shop = Shop({"v2": Arm(20), "v1": Arm(180)})
    spec = analysis(ERRORS, LATENCY)

    def flaky(now: float) -> Observed:
        return shop.observe(now, router=int(now - NOON) % 30 != 0)

    state, verdict, elapsed = drive(start(shop, spec), spec, flaky)

    assert verdict.outcome is Outcome.PASS
    assert elapsed == 310  # the look at 300 s missed the router
    assert state.failed_looks == 10
    assert state.outages == {}
    assert verdict.evidence["errors"]["requests"] == 20 * 310


def test_a_restarted_server_resumes_the_run_and_reaches_the_same_verdict() -> None:
    shop = Shop({"v2": Arm(20, errors=0.012), "v1": Arm(180, errors=0.004)})
    spec = analysis(ERRORS, LATENCY, ORDERS_METRIC)

    _, straight, straight_at = drive(start(shop, spec), spec, shop.observe, persist=False)
    _, resumed, resumed_at = drive(start(shop, spec), spec, shop.observe, persist=True)

    assert resumed == straight
    assert resumed_at == straight_at


def test_a_run_once_decided_gives_the_same_verdict_again() -> None:
    shop = Shop({"v2": Arm(20, errors=0.05), "v1": Arm(180)})
    spec = analysis(ERRORS)
    state, verdict, _ = drive(start(shop, spec), spec, shop.observe)

    again, repeated = take_look(state, spec, shop.observe(NOON + 999), NOON + 999)

    assert repeated == verdict
    assert again == state


def test_the_verdict_converts_to_the_rollouts_verdict() -> None:
    shop = Shop({"v2": Arm(20, errors=0.05), "v1": Arm(180)})
    spec = analysis(ERRORS)
    _, verdict, _ = drive(start(shop, spec), spec, shop.observe)

    converted = RolloutVerdict.from_dict(verdict.to_dict())

    assert converted.run == 1
    assert converted.outcome.value == verdict.outcome.value == "fail"
    assert converted.sentence == verdict.sentence
    assert json.loads(json.dumps(converted.evidence)) == converted.evidence


def test_a_metric_the_analysis_does_not_declare_is_refused() -> None:
    shop = Shop({"v2": Arm(20), "v1": Arm(180)})

    with pytest.raises(UsageError, match=r"names orderz, which release\.analysis\.metrics"):
        begin_run(
            1,
            "v2",
            "v1",
            ("orderz",),
            60.0,
            analysis=analysis(ERRORS),
            observed=shop.observe(NOON),
            now=NOON,
        )


def test_a_run_with_nothing_to_judge_is_inconclusive_at_its_first_look() -> None:
    shop = Shop({"v2": Arm(20), "v1": Arm(180)})
    spec = analysis()

    _, verdict, elapsed = drive(start(shop, spec), spec, shop.observe)

    assert (verdict.outcome, verdict.sentence, elapsed) == (
        Outcome.INCONCLUSIVE,
        "no metrics to judge",
        10,
    )


# After the switch: the canary against the baseline recorded before it.


def baseline_of(shop: Shop, version: str, seconds: float) -> VersionSample:
    """The version's window over ``seconds`` before the shop's start."""
    before = Shop(shop.arms, start=shop.start - seconds)
    earlier = samples_from_snapshot(
        before.snapshot(before.start), before.start, before.counters(before.start)
    )
    later = samples_from_snapshot(
        before.snapshot(shop.start), shop.start, before.counters(shop.start)
    )
    return window(earlier[version], later[version])


def test_without_a_stable_version_the_canary_is_compared_with_the_recorded_baseline() -> None:
    old = Shop({"v1": Arm(100, errors=0.002, orders=0.1)})
    shop = Shop({"v2": Arm(100, errors=0.002, orders=0.1)})
    spec = analysis(ERRORS, ORDERS_METRIC)

    state = start(shop, spec, baseline=baseline_of(old, "v1", 600))
    _, verdict, elapsed = drive(state, spec, shop.observe)

    assert verdict.outcome is Outcome.PASS
    assert elapsed == 300
    assert verdict.sentence.endswith(
        "(compared with v1's recorded baseline of 60,000 requests over 600 s)"
    )


def test_a_canary_worse_than_the_recorded_baseline_fails_at_the_end() -> None:
    old = Shop({"v1": Arm(100, errors=0.002)})
    shop = Shop({"v2": Arm(100, errors=0.008)})
    spec = analysis(ERRORS)

    state = start(shop, spec, baseline=baseline_of(old, "v1", 600))
    _, verdict, elapsed = drive(state, spec, shop.observe)

    assert verdict.outcome is Outcome.FAIL
    assert elapsed == 300  # one comparison, at the end: a single look keeps its alpha
    assert verdict.sentence.startswith("errors failed: canary error rate 0.8% vs stable 0.2%")


def test_without_any_recorded_baseline_only_thresholds_are_judged_and_the_sentence_says_so() -> (
    None
):
    shop = Shop({"v2": Arm(100)})
    spec = analysis(ERRORS, ORDERS_METRIC)

    state = start(shop, spec)
    _, verdict, _ = drive(state, spec, shop.observe)

    assert state.metrics == ("errors",)
    assert state.skipped == ("orders",)
    assert verdict.outcome is Outcome.PASS
    assert verdict.sentence.endswith(
        "(no baseline of the previous version was recorded: thresholds only); "
        "not judged without a recorded baseline: orders"
    )


# Other sources.


def test_a_webhook_that_keeps_failing_fails_the_run_after_the_failure_limit() -> None:
    shop = Shop({"v2": Arm(20), "v1": Arm(180)})
    spec = analysis({"name": "payments", "provider": "webhook", "url": "http://hook/verdict"})
    said = Answer(passed=False, message="payments declined for 3% of canary checkouts")

    _, verdict, elapsed = drive(
        start(shop, spec), spec, lambda now: shop.observe(now, answers={"payments": said})
    )

    assert verdict.outcome is Outcome.FAIL
    assert elapsed == 20  # failure_limit 1 tolerates the first
    assert verdict.sentence == (
        "payments failed: webhook says: payments declined for 3% of canary checkouts"
    )


def test_a_command_that_passes_until_the_end_passes() -> None:
    shop = Shop({"v2": Arm(20), "v1": Arm(180)})
    spec = analysis({"name": "synthetic", "provider": "command", "command": "true"})

    _, verdict, elapsed = drive(
        start(shop, spec),
        spec,
        lambda now: shop.observe(now, answers={"synthetic": Answer(passed=True)}),
    )

    assert (verdict.outcome, elapsed) == (Outcome.PASS, 300)
    assert verdict.sentence == "synthetic passed: command says: passed"


def test_a_webhook_that_never_answers_is_inconclusive() -> None:
    shop = Shop({"v2": Arm(20), "v1": Arm(180)})
    spec = analysis({"name": "payments", "provider": "webhook", "url": "http://hook/verdict"})
    down = {"webhook:payments": "http://hook/verdict did not answer within 10 s."}

    _, verdict, _ = drive(start(shop, spec), spec, lambda now: shop.observe(now, unreachable=down))

    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.sentence == (
        "payments inconclusive: metric source webhook:payments unreachable since 12:03:14 "
        "UTC (http://hook/verdict did not answer within 10 s)"
    )


def test_a_prometheus_expression_is_held_to_its_threshold_on_the_canarys_value() -> None:
    shop = Shop({"v2": Arm(20), "v1": Arm(180)})
    metric = {
        "name": "checkout-latency",
        "provider": "prometheus",
        "query": "histogram_quantile(0.95, sum by (le, version) (rate(x_bucket[5m])))",
        "threshold": {"max": "800ms"},
    }
    spec = analysis(metric, failure_limit=0)
    values = {"checkout-latency": {"v2": 0.95, "v1": 0.2}}

    _, verdict, elapsed = drive(
        start(shop, spec), spec, lambda now: shop.observe(now, queried=values)
    )

    assert (verdict.outcome, elapsed) == (Outcome.FAIL, 10)
    assert verdict.sentence == (
        "checkout-latency failed: canary checkout-latency 0.95 is above the 0.8 limit"
    )


def test_a_prometheus_counter_is_judged_per_request_like_the_instances_counters() -> None:
    shop = Shop({"v2": Arm(30, orders=0.02), "v1": Arm(120, orders=0.1)})
    metric = {**ORDERS_METRIC, "provider": "prometheus", "query": ORDERS}
    spec = analysis(metric)

    def observe(now: float) -> Observed:
        counted = shop.counters(now)
        values = {"orders": {version: found[ORDERS] for version, found in counted.items()}}
        return Observed(snapshot=shop.snapshot(now), queried=values)

    state = begin_run(1, "v2", "v1", (), 300.0, analysis=spec, observed=observe(NOON), now=NOON)
    _, verdict, _ = drive(state, spec, observe)

    assert verdict.outcome is Outcome.FAIL
    assert verdict.sentence.startswith(
        "orders failed: canary orders per request 0.02 vs stable 0.1"
    )


def test_a_counter_the_canary_shows_only_later_starts_its_metric_there() -> None:
    shop = Shop({"v2": Arm(30, orders=0.02), "v1": Arm(120, orders=0.1)})
    spec = analysis(ORDERS_METRIC, ERRORS)

    def observe(now: float) -> Observed:
        counted = shop.counters(now)
        if now < NOON + 60:
            del counted["v2"]  # no instance of the canary serves /metrics yet
        return Observed(snapshot=shop.snapshot(now), counters=counted)

    state = begin_run(1, "v2", "v1", (), 300.0, analysis=spec, observed=observe(NOON), now=NOON)
    assert state.outages["app"].reason == "shop_orders_total of v2 was not found"

    state, verdict, _ = drive(state, spec, observe)

    assert state.progress["orders"].since == NOON + 60
    assert verdict.outcome is Outcome.FAIL
    assert verdict.sentence.startswith("orders failed: canary orders per request 0.02")


def test_a_prometheus_value_that_is_not_a_number_is_never_within_the_threshold() -> None:
    shop = Shop({"v2": Arm(20), "v1": Arm(180)})
    metric = {"name": "ratio", "provider": "prometheus", "query": "a / b", "threshold": {"max": 1}}
    spec = analysis(metric)
    values = {"ratio": {"v2": math.nan}}

    _, verdict, _ = drive(start(shop, spec), spec, lambda now: shop.observe(now, queried=values))

    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert (
        verdict.sentence == "ratio inconclusive: Prometheus has no value of ratio for the canary v2"
    )
