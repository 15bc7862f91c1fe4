"""A metric of andon.yaml is read off its query."""

from __future__ import annotations

import pytest

from andon.analysis import Metric, MetricKind
from andon.errors import UsageError


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("error_rate", Metric("m", MetricKind.ERROR_RATE)),
        ("request_rate", Metric("m", MetricKind.REQUEST_RATE)),
        ("latency_p95", Metric("m", MetricKind.LATENCY, quantile=0.95)),
        ("latency_p99.9", Metric("m", MetricKind.LATENCY, quantile=0.999)),
        ("shop_orders_total", Metric("m", MetricKind.BUSINESS, counter="shop_orders_total")),
        (
            "rate(shop_orders_total[1m])",
            Metric("m", MetricKind.BUSINESS, counter="shop_orders_total"),
        ),
        ("increase(signups[5m])", Metric("m", MetricKind.BUSINESS, counter="signups")),
    ],
)
def test_queries_name_what_is_measured(query: str, expected: Metric) -> None:
    assert Metric.from_query("m", query) == expected


def test_a_query_that_cannot_be_judged_says_what_can() -> None:
    with pytest.raises(UsageError, match="name a router metric"):
        Metric.from_query("odd", 'sum(rate(http_requests_total{code="500"}[1m]))')


def test_labels_name_the_metric_in_sentences() -> None:
    assert Metric("errors", MetricKind.ERROR_RATE).label == "error rate"
    assert Metric("lat", MetricKind.LATENCY, quantile=0.95).label == "p95 latency"
    assert Metric("orders", MetricKind.BUSINESS, counter="o").label == "orders per request"


def test_latency_needs_a_quantile_and_business_a_counter() -> None:
    with pytest.raises(ValueError, match="quantile"):
        Metric("lat", MetricKind.LATENCY)
    with pytest.raises(ValueError, match="counter"):
        Metric("orders", MetricKind.BUSINESS)
