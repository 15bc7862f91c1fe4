"""Which sources a metric needs, and what andon.yaml accepts agrees with what the judges
can read: every query the loader lets through for the router, the instances' counters or
a Prometheus counter is one ``Metric.from_query`` reads as the same kind."""

from __future__ import annotations

import pytest

from andon.analysis import Metric, MetricKind, Observed, sources_of
from andon.analysis.readings import counter_of, gaps, is_counted
from andon.spec import MetricSpec


def metric(provider: str, query: str, **bounds: object) -> MetricSpec:
    return MetricSpec.model_validate(
        {"name": "m", "provider": provider, "query": query, **(bounds or {"threshold": {"max": 1}})}
    )


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("error_rate", MetricKind.ERROR_RATE),
        ("request_rate", MetricKind.REQUEST_RATE),
        ("latency_p95", MetricKind.LATENCY),
        ("latency_p99.9", MetricKind.LATENCY),
        (" latency_p50 ", MetricKind.LATENCY),
    ],
)
def test_every_router_query_the_loader_accepts_is_one_the_judges_read(
    query: str, kind: MetricKind
) -> None:
    spec = metric("router", query)

    assert Metric.from_query(spec.name, spec.query).kind is kind
    assert sources_of(spec) == ("router",)
    assert counter_of(spec) is None


@pytest.mark.parametrize("provider", ["app", "prometheus"])
@pytest.mark.parametrize(
    "query",
    [
        "shop_orders_total",
        "rate(shop_orders_total[1m])",
        "increase( shop_orders_total[5m] )",
        "irate(shop_orders_total[30s])",
        "namespace:shop_orders_total",
    ],
)
def test_every_counter_the_loader_accepts_is_judged_per_request_by_the_same_name(
    provider: str, query: str
) -> None:
    spec = metric(provider, query, baseline={"max_decrease": "30%"})
    read = Metric.from_query(spec.name, spec.query)

    assert read.kind is MetricKind.BUSINESS
    assert counter_of(spec) == read.counter
    assert is_counted(spec)
    assert sources_of(spec) == (
        ("router", "app") if provider == "app" else ("router", "prometheus:m")
    )


def test_a_promql_expression_is_its_own_source_and_is_not_counted() -> None:
    spec = metric("prometheus", "sum(rate(shop_orders_total[1m]))")

    assert not is_counted(spec)
    assert sources_of(spec) == ("prometheus:m",)


def test_a_counter_missing_for_a_version_with_traffic_is_a_gap_of_its_source() -> None:
    spec = metric("app", "shop_orders_total", baseline={"max_decrease": "30%"})
    served = {"versions": {"v2": {"requests": {"2xx": 5}}, "v1": {"requests": {"2xx": 50}}}}

    seen = Observed(snapshot=served, counters={"v1": {"shop_orders_total": 4.0}})
    idle = Observed(
        snapshot={"versions": {"v1": {"requests": {"2xx": 50}}}},
        counters={"v1": {"shop_orders_total": 4.0}},
    )

    assert gaps(spec, seen, ("v2", "v1")) == {"app": "shop_orders_total of v2 was not found"}
    assert gaps(spec, idle, ("v2", "v1")) == {}  # no traffic yet: nothing to count
    assert gaps(spec, Observed(), ("v2",)) == {
        "router": "the router was not asked",
        "app": "the instances were not scraped",
    }
