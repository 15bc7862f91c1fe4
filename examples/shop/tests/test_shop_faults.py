"""Each fault knob does what the platform's failure rehearsals rely on."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from shop.config import FaultConfig
from shop.faults import FaultInjector
from shop.testing import RunningShop


def cart_with_mug(shop: RunningShop) -> str:
    cart_id: str = shop.client.post("/carts").json()["id"]
    reply = shop.client.post(f"/carts/{cart_id}/items", {"sku": "enamel-mug", "quantity": 1})
    assert reply.status == 200
    return cart_id


def mug_stock(shop: RunningShop) -> int:
    stock: int = shop.client.get("/products/enamel-mug").json()["stock"]
    return stock


def test_checkout_error_rate_one_fails_every_checkout(
    shop_factory: Callable[..., RunningShop],
) -> None:
    shop = shop_factory(faults=FaultConfig(checkout_error_rate=1.0))
    cart_id = cart_with_mug(shop)
    for _ in range(3):
        reply = shop.client.post("/checkout", {"cart_id": cart_id})
        assert reply.status == 500
        assert reply.json() == {"error": "Checkout failed because of an injected fault."}
    assert mug_stock(shop) == 60
    assert shop.client.get(f"/carts/{cart_id}").json()["status"] == "open"
    samples = shop.metrics()
    assert samples.get("shop_checkout_failures_total") == 3
    assert samples.get("shop_orders_total") == 0
    assert (
        samples.get("shop_http_requests_total", method="POST", route="/checkout", status="500") == 3
    )
    # Only checkout is affected.
    assert shop.client.get("/products").status == 200


def test_checkout_error_rate_is_a_fraction() -> None:
    injector = FaultInjector(FaultConfig(checkout_error_rate=0.25), rng=random.Random(7))
    failures = sum(injector.checkout_should_fail() for _ in range(4000))
    assert 900 < failures < 1100
    never = FaultInjector(FaultConfig(checkout_error_rate=0.0), rng=random.Random(7))
    assert not any(never.checkout_should_fail() for _ in range(1000))


def test_drop_orders_answers_201_but_stores_nothing(
    shop_factory: Callable[..., RunningShop],
) -> None:
    shop = shop_factory(faults=FaultConfig(drop_orders=True))
    cart_id = cart_with_mug(shop)
    reply = shop.client.post("/checkout", {"cart_id": cart_id})
    # Indistinguishable from a real order by status and body...
    assert reply.status == 201
    assert reply.json()["total_cents"] == 1400
    order_id = reply.json()["order_id"]
    assert reply.headers["location"] == f"/orders/{order_id}"
    # ...but nothing was stored and the business metric did not move.
    assert shop.client.get(f"/orders/{order_id}").status == 404
    assert mug_stock(shop) == 60
    assert shop.client.get(f"/carts/{cart_id}").json()["status"] == "open"
    samples = shop.metrics()
    assert samples.get("shop_orders_total") == 0
    assert samples.get("shop_checkout_failures_total") == 0


def test_added_latency_slows_requests_but_not_health_or_metrics(
    shop_factory: Callable[..., RunningShop],
) -> None:
    shop = shop_factory(faults=FaultConfig(added_latency_ms=200))

    def timed(path: str) -> float:
        started = time.perf_counter()
        assert shop.client.get(path).status in (200, 404)
        return time.perf_counter() - started

    assert timed("/products") >= 0.2
    assert timed("/no-such-route") >= 0.2
    assert timed("/healthz") < 0.2
    assert timed("/metrics") < 0.2
    samples = shop.metrics()
    duration = "shop_http_request_duration_seconds"
    assert samples.get(f"{duration}_sum", route="/products") >= 0.2  # type: ignore[operator]
    assert samples.get(f"{duration}_bucket", route="/products", le="0.1") == 0
    assert samples.get(f"{duration}_bucket", route="/products", le="0.25") == 1


def test_latency_is_skipped_for_exempt_paths() -> None:
    slept: list[float] = []
    injector = FaultInjector(FaultConfig(added_latency_ms=75), sleep=slept.append)
    for path in ("/healthz", "/metrics", "/products", "/checkout"):
        injector.delay(path)
    assert slept == [0.075, 0.075]


def test_describe_names_active_faults() -> None:
    assert FaultInjector(FaultConfig()).describe() == ""
    faults = FaultConfig(checkout_error_rate=0.1, added_latency_ms=5, drop_orders=True)
    assert FaultInjector(faults).describe() == (
        "checkout_error_rate=0.1, added_latency_ms=5, drop_orders=True"
    )
