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


def test_order_drop_rate_answers_201_to_every_checkout_but_stores_a_share(
    shop_factory: Callable[..., RunningShop],
) -> None:
    shop = shop_factory(faults=FaultConfig(order_drop_rate=0.5), rng=random.Random(3))
    answers = []
    for _ in range(40):
        cart_id = cart_with_mug(shop)
        reply = shop.client.post("/checkout", {"cart_id": cart_id})
        assert reply.status == 201
        answers.append((reply.json()["order_id"], cart_id))
    stored = [
        order_id for order_id, _ in answers if shop.client.get(f"/orders/{order_id}").status == 200
    ]
    # About half were stored, and exactly those were counted and took stock.
    assert 10 <= len(stored) <= 30
    samples = shop.metrics()
    assert samples.get("shop_orders_total") == len(stored)
    assert samples.get("shop_checkout_failures_total") == 0
    assert mug_stock(shop) == 60 - len(stored)
    open_carts = [
        cart_id
        for _, cart_id in answers
        if shop.client.get(f"/carts/{cart_id}").json()["status"] == "open"
    ]
    assert len(open_carts) == 40 - len(stored)


def test_order_drop_rate_one_drops_every_order_as_drop_orders_does(
    shop_factory: Callable[..., RunningShop],
) -> None:
    shop = shop_factory(faults=FaultConfig(order_drop_rate=1.0))
    reply = shop.client.post("/checkout", {"cart_id": cart_with_mug(shop)})
    assert reply.status == 201
    assert shop.client.get(f"/orders/{reply.json()['order_id']}").status == 404
    assert shop.metrics().get("shop_orders_total") == 0


def test_order_drop_rate_is_a_fraction_drawn_per_checkout() -> None:
    injector = FaultInjector(FaultConfig(order_drop_rate=0.3), rng=random.Random(7))
    drops = sum(injector.order_should_drop() for _ in range(4000))
    assert 1100 < drops < 1300
    never = FaultInjector(FaultConfig(), rng=random.Random(7))
    assert not any(never.order_should_drop() for _ in range(1000))
    always = FaultInjector(FaultConfig(drop_orders=True, order_drop_rate=0.1))
    assert all(always.order_should_drop() for _ in range(100))


def test_order_drop_rate_off_leaves_the_other_draws_alone() -> None:
    """Turning the knob off draws nothing, so checkout_error_rate's draws stay the same."""
    plain = FaultInjector(FaultConfig(checkout_error_rate=0.5), rng=random.Random(11))
    expected = [plain.checkout_should_fail() for _ in range(200)]
    mixed = FaultInjector(FaultConfig(checkout_error_rate=0.5), rng=random.Random(11))
    seen = []
    for _ in range(200):
        seen.append(mixed.checkout_should_fail())
        assert not mixed.order_should_drop()
    assert seen == expected


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
    assert FaultInjector(FaultConfig(order_drop_rate=0.3)).describe() == "order_drop_rate=0.3"
