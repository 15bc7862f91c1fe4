"""Observations: read from the router's own snapshot, subtracted into windows across
counter resets, and kept as JSON."""

from __future__ import annotations

import json
import math

import pytest

from andon.agent.router.metrics import RouterMetrics, merge_snapshots
from andon.analysis import (
    LatencyHistogram,
    VersionSample,
    combine,
    read_counters,
    samples_from_snapshot,
    window,
)


def test_samples_come_from_the_routers_own_snapshot() -> None:
    metrics = RouterMetrics("prod")
    for status, seconds in [(200, 0.004), (200, 0.04), (503, 0.3), (404, 0.02), (200, 20.0)]:
        metrics.version("v2").observe(status, seconds)
    metrics.version("v1").observe(200, 0.01)

    samples = samples_from_snapshot(
        metrics.snapshot(), at=12.0, counters={"v2": {"shop_orders_total": 3.0}}
    )

    v2 = samples["v2"]
    assert (v2.version, v2.at, v2.since) == ("v2", 12.0, None)
    assert (v2.requests, v2.errors) == (5, 1)
    assert v2.latency.counts == (1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1)
    assert v2.latency.sum == pytest.approx(20.364)
    assert v2.counters == {"shop_orders_total": 3.0}
    assert samples["v1"].requests == 1
    assert samples["v1"].counters == {}


def test_merged_snapshots_of_several_workers_read_the_same_way() -> None:
    workers = [RouterMetrics("prod"), RouterMetrics("prod")]
    workers[0].version("v2").observe(500, 0.1)
    workers[1].version("v2").observe(200, 0.1)
    merged = merge_snapshots([worker.snapshot() for worker in workers])
    v2 = samples_from_snapshot(merged, at=1.0)["v2"]
    assert (v2.requests, v2.errors, v2.latency.total) == (2, 1, 2)


def test_quantile_interpolates_within_its_bucket_like_prometheus() -> None:
    histogram = LatencyHistogram((0.1, 0.5, 1.0), (50, 30, 20, 0))
    # rank 0.5 * 100 = 50 falls at the top of the first bucket
    assert histogram.quantile(0.5) == pytest.approx(0.1)
    # rank 65: 15 of the 30 in (0.1, 0.5] → 0.1 + 0.4 * 15/30
    assert histogram.quantile(0.65) == pytest.approx(0.3)
    # rank 95: 15 of the 20 in (0.5, 1.0] → 0.5 + 0.5 * 15/20
    assert histogram.quantile(0.95) == pytest.approx(0.875)
    # the first bucket starts at zero: rank 25 → 0.1 * 25/50
    assert histogram.quantile(0.25) == pytest.approx(0.05)


def test_quantile_in_the_open_bucket_is_the_highest_bound_and_none_without_data() -> None:
    assert LatencyHistogram((0.1, 0.5), (1, 1, 8)).quantile(0.9) == 0.5
    assert LatencyHistogram((0.1, 0.5), (0, 0, 0)).quantile(0.9) is None


def test_a_histogram_needs_one_count_more_than_bounds() -> None:
    with pytest.raises(ValueError, match="3 counts"):
        LatencyHistogram((0.1, 0.5), (1, 2))


def test_window_is_the_difference_of_two_snapshots(sample) -> None:
    earlier = sample(100, 1, latency={0.05: 90, 0.5: 10}, counters={"orders": 5}, since=None)
    later = sample(
        250, 4, latency={0.05: 200, 0.5: 50}, counters={"orders": 9}, at=70.0, since=None
    )
    step = window(earlier, later)
    assert (step.since, step.at, step.seconds) == (60.0, 70.0, 10.0)
    assert (step.requests, step.errors) == (150, 3)
    assert step.latency.counts[3] == 110
    assert step.latency.counts[6] == 40
    assert step.counters == {"orders": 4.0}


def test_a_router_restart_takes_the_new_counts_as_the_increase(sample) -> None:
    earlier = sample(1000, 10, since=None)
    restarted = sample(30, 1, at=70.0, since=None)
    step = window(earlier, restarted)
    assert (step.requests, step.errors, step.latency.total) == (30, 1, 30)


def test_a_latency_bucket_going_down_is_a_restart_too(sample) -> None:
    earlier = sample(100, latency={0.05: 60, 0.5: 40}, since=None)
    later = sample(120, latency={0.05: 100, 0.5: 20}, at=70.0, since=None)
    step = window(earlier, later)
    assert step.requests == 120
    assert step.latency == later.latency


def test_each_business_counter_resets_on_its_own(sample) -> None:
    earlier = sample(100, counters={"orders": 50, "signups": 7}, since=None)
    later = sample(200, counters={"orders": 3, "signups": 9}, at=70.0, since=None)
    assert window(earlier, later).counters == {"orders": 3.0, "signups": 2.0}


def test_a_counter_missing_at_either_end_is_missing_from_the_window(sample) -> None:
    earlier = sample(100, counters={"orders": 5}, since=None)
    later = sample(200, counters={"signups": 1}, at=70.0, since=None)
    assert window(earlier, later).counters == {}


def test_windows_of_different_versions_are_refused(sample) -> None:
    with pytest.raises(ValueError, match="cannot subtract"):
        window(sample(1, version="v1"), sample(2, version="v2"))


def test_consecutive_windows_combine_into_one(sample) -> None:
    first = sample(100, 2, counters={"orders": 5, "signups": 1}, at=10.0, since=0.0)
    second = sample(50, 1, counters={"orders": 2}, at=15.0, since=10.0)
    both = combine(first, second)
    assert (both.since, both.at, both.requests, both.errors) == (0.0, 15.0, 150, 3)
    assert both.latency.total == 150
    # signups covered only the first window: a rate over part of it would mislead
    assert both.counters == {"orders": 7.0}


def test_samples_survive_json(sample) -> None:
    original = sample(1830, 75, latency={0.05: 1000, math.inf: 830}, counters={"orders": 2.5})
    assert VersionSample.from_dict(json.loads(json.dumps(original.to_dict()))) == original


def test_counters_are_read_from_prometheus_text_and_summed_over_labels() -> None:
    text = "\n".join(
        [
            "# HELP shop_orders_total Orders placed.",
            "# TYPE shop_orders_total counter",
            'shop_orders_total{worker="1"} 12',
            'shop_orders_total{worker="2",note="a } and \\" inside"} 30 1712345678000',
            "shop_carts_total 4.5",
            "shop_broken_total NaN",
            "garbage line",
            "",
        ]
    )
    assert read_counters(text) == {"shop_orders_total": 42.0, "shop_carts_total": 4.5}
    assert read_counters(text, ["shop_orders_total"]) == {"shop_orders_total": 42.0}
