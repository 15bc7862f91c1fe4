"""Prometheus exposition: exact format, escaping, and counters that move."""

from __future__ import annotations

import re
import threading

from hypothesis import given, settings
from hypothesis import strategies as st
from shop import metrics
from shop.metrics import Counter, Histogram, Registry
from shop.testing import RunningShop

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def test_counter_exposition_is_exact() -> None:
    registry = Registry()
    requests = registry.register(Counter("x_total", "Things.", ("method", "route")))
    plain = registry.register(Counter("y_total", "Help with \\ and\nnewline."))
    requests.inc(method="GET", route="/a")
    requests.inc(2, method="GET", route="/a")
    requests.inc(method="POST", route="/b")
    plain.inc(0.5)
    assert registry.render() == (
        "# HELP x_total Things.\n"
        "# TYPE x_total counter\n"
        'x_total{method="GET",route="/a"} 3\n'
        'x_total{method="POST",route="/b"} 1\n'
        "# HELP y_total Help with \\\\ and\\nnewline.\n"
        "# TYPE y_total counter\n"
        "y_total 0.5\n"
    )


def test_label_values_are_escaped() -> None:
    counter = Counter("z_total", "Z.", ("path",))
    counter.inc(path='a "quoted" \\ back\nslash')
    assert counter.render()[-1] == 'z_total{path="a \\"quoted\\" \\\\ back\\nslash"} 1'


def test_histogram_exposition_is_cumulative() -> None:
    histogram = Histogram("d_seconds", "Durations.", ("route",), (0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(value, route="/r")
    assert histogram.render()[2:] == [
        'd_seconds_bucket{route="/r",le="0.1"} 2',
        'd_seconds_bucket{route="/r",le="1"} 3',
        'd_seconds_bucket{route="/r",le="+Inf"} 4',
        'd_seconds_sum{route="/r"} 3.65',
        'd_seconds_count{route="/r"} 4',
    ]


def test_wrong_labels_are_a_programming_error() -> None:
    counter = Counter("c_total", "C.", ("a",))
    try:
        counter.inc(b="x")
    except ValueError as exc:
        assert "takes labels ('a',)" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def test_counters_are_thread_safe() -> None:
    counter = Counter("n_total", "N.", ("k",))

    def hammer() -> None:
        for _ in range(2000):
            counter.inc(k="v")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.value(k="v") == 16000


@settings(max_examples=200, database=None)
@given(st.text())
def test_any_label_value_survives_a_round_trip(value: str) -> None:
    counter = Counter("r_total", "R.", ("v",))
    counter.inc(v=value)
    assert metrics.parse("\n".join(counter.render())).get("r_total", v=value) == 1


def check_exposition(text: str) -> None:
    """Structural rules of format 0.0.4 that Prometheus enforces on scrape."""
    assert text.endswith("\n")
    families: dict[str, str] = {}
    helped: set[str] = set()
    for line in text.removesuffix("\n").split("\n"):
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert METRIC_NAME.match(name)
            helped.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name in helped, f"TYPE before HELP for {name}"
            assert name not in families, f"duplicate TYPE for {name}"
            assert kind in {"counter", "gauge", "histogram"}
            families[name] = kind
        else:
            name = re.split(r"[{ ]", line, maxsplit=1)[0]
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            declared = families.get(name) or families.get(family)
            assert declared is not None, f"sample {name} has no TYPE line before it"
            if name != family and name not in families:
                assert declared == "histogram"
    samples = metrics.parse(text)
    for (name, labels), count in samples.values.items():
        if not name.endswith("_count"):
            continue
        base = name.removesuffix("_count")
        buckets = sorted(
            (float(dict(ls)["le"]), v)
            for (n, ls), v in samples.values.items()
            if n == f"{base}_bucket" and {k: x for k, x in ls if k != "le"} == dict(labels)
        )
        values = [v for _, v in buckets]
        assert values == sorted(values), "buckets must be cumulative"
        assert buckets[-1] == (float("inf"), count)


def test_live_metrics_are_well_formed(live_shop: RunningShop) -> None:
    live_shop.client.get("/products")
    live_shop.client.get("/no/such/route")
    reply = live_shop.client.get("/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    check_exposition(reply.text)
    assert 'shop_build_info{version="test"} 1' in reply.text
    buckets = re.findall(r'duration_seconds_bucket\{route="/products",le="([^"]+)"\}', reply.text)
    assert buckets == [
        "0.005",
        "0.01",
        "0.025",
        "0.05",
        "0.1",
        "0.25",
        "0.5",
        "1",
        "2.5",
        "5",
        "+Inf",
    ]


def test_requests_are_counted_by_route_template(live_shop: RunningShop) -> None:
    before = live_shop.metrics()
    live_shop.client.get("/products/enamel-mug")
    live_shop.client.get("/products/kitchen-timer")
    live_shop.client.get("/products/unicorn")
    live_shop.client.get("/random/scanner/path")
    live_shop.client.request("DELETE", "/products")
    after = live_shop.metrics()

    def delta(name: str, **labels: str) -> float:
        return (after.get(name, **labels) or 0) - (before.get(name, **labels) or 0)

    route = "/products/{sku}"
    requests = "shop_http_requests_total"
    assert delta(requests, method="GET", route=route, status="200") == 2
    assert delta(requests, method="GET", route=route, status="404") == 1
    assert delta(requests, method="GET", route="unmatched", status="404") == 1
    assert delta(requests, method="DELETE", route="/products", status="405") == 1
    assert delta("shop_http_request_duration_seconds_count", route=route) == 3
    assert delta("shop_http_request_duration_seconds_bucket", route=route, le="+Inf") == 3
    assert delta("shop_http_request_duration_seconds_sum", route=route) > 0
    # The raw path never becomes a label value.
    assert all("enamel-mug" not in value for _, ls in after.values for _, value in ls)


def test_orders_and_checkout_failures_are_counted(live_shop: RunningShop) -> None:
    before = live_shop.metrics()
    assert before.get("shop_orders_total") == 0
    assert before.get("shop_checkout_failures_total") == 0

    cart_id = live_shop.client.post("/carts").json()["id"]
    live_shop.client.post(f"/carts/{cart_id}/items", {"sku": "enamel-mug", "quantity": 1})
    assert live_shop.client.post("/checkout", {"cart_id": cart_id}).status == 201
    assert live_shop.client.post("/checkout", {"cart_id": cart_id}).status == 409
    assert live_shop.client.post("/checkout", {"cart_id": 1}).status == 400

    after = live_shop.metrics()
    assert after.get("shop_orders_total") == 1
    assert after.get("shop_checkout_failures_total") == 2
    assert (
        after.get("shop_http_requests_total", method="POST", route="/checkout", status="201") == 1
    )
