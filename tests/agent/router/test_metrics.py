"""Per-version counters: classes, a Prometheus histogram, in-flight; snapshots of several
processes add up, and the text exposition reads as Prometheus expects."""

from __future__ import annotations

from andon.agent.router import RouterMetrics, merge_snapshots, render_prometheus
from andon.agent.router.metrics import BUCKETS


def _metrics() -> RouterMetrics:
    metrics = RouterMetrics("prod")
    v1 = metrics.version("v1")
    for status, seconds in [(200, 0.001), (204, 0.02), (302, 0.2), (404, 0.004), (503, 30.0)]:
        v1.observe(status, seconds)
    v1.in_flight = 2
    metrics.version("v2").observe(200, 0.005)
    metrics.rejected["head_too_large"] += 1
    return metrics


def test_a_snapshot_counts_classes_buckets_and_in_flight() -> None:
    snapshot = _metrics().snapshot()
    v1 = snapshot["versions"]["v1"]
    assert v1["requests"] == {"1xx": 0, "2xx": 2, "3xx": 1, "4xx": 1, "5xx": 1}
    assert v1["in_flight"] == 2
    assert v1["latency"]["buckets"] == list(BUCKETS)
    # 0.001 and 0.004 in le=0.005; 0.02 in le=0.025; 0.2 in le=0.25; 30 s in +Inf.
    assert v1["latency"]["counts"] == [2, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    assert v1["latency"]["count"] == 5
    # A value on a bound counts in that bucket (le means "less or equal").
    assert snapshot["versions"]["v2"]["latency"]["counts"][0] == 1
    assert snapshot["rejected"]["head_too_large"] == 1


def test_snapshots_of_several_workers_add_up() -> None:
    one, two = _metrics().snapshot(), _metrics().snapshot()
    merged = merge_snapshots([one, two])
    v1 = merged["versions"]["v1"]
    assert v1["requests"]["2xx"] == 4
    assert v1["latency"]["buckets"] == list(BUCKETS)
    assert v1["latency"]["counts"][0] == 4
    assert v1["in_flight"] == 4
    assert merged["rejected"]["head_too_large"] == 2


def test_the_exposition_has_labelled_counters_and_a_cumulative_histogram() -> None:
    text = render_prometheus(_metrics().snapshot())
    lines = text.splitlines()
    assert 'andon_router_requests_total{env="prod",version="v1",class="2xx"} 2' in lines
    assert 'andon_router_requests_total{env="prod",version="v2",class="2xx"} 1' in lines
    bucket = 'andon_router_request_duration_seconds_bucket{env="prod",version="v1",le='
    assert f'{bucket}"0.005"}} 2' in lines
    assert f'{bucket}"0.25"}} 4' in lines
    assert f'{bucket}"+Inf"}} 5' in lines
    assert 'andon_router_request_duration_seconds_count{env="prod",version="v1"} 5' in lines
    assert 'andon_router_requests_in_flight{env="prod",version="v1"} 2' in lines
    assert 'andon_router_rejected_total{env="prod",reason="head_too_large"} 1' in lines
    assert text.endswith("\n")
    for line in lines:
        assert line.startswith("#") or line.startswith("andon_router_")
