"""Post-deploy smoke test: ``python -m shop.smoke URL``.

Walks one customer journey through a running shop and checks each step:

    healthz -> list products -> create cart -> add item -> checkout
            -> read the order back -> metrics count the order

It prints one line per check and exits 0 if all pass, 1 otherwise. Later
checks depend on earlier ones, so after the first failure the rest are
reported as skipped.

The journey places a real order for one unit of the best-stocked product.
Point it at a single instance, not a load balancer: the metrics check reads
the counter of the instance that took the order.

The last two checks exist for defects that status codes hide: a shop with
``drop_orders`` answers 201 to the checkout, but the order cannot be read back
and ``shop_orders_total`` does not move.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from shop import metrics
from shop.client import Client, Reply


class CheckFailedError(Exception):
    """A smoke check did not pass; the message says what was seen."""


def _expect(reply: Reply, status: int, what: str) -> Any:
    if reply.status != status:
        detail = reply.body[:200].decode("utf-8", "replace").strip()
        raise CheckFailedError(f"{what} answered {reply.status}, expected {status}: {detail}")
    if "json" not in reply.headers.get("content-type", ""):
        return None
    try:
        return reply.json()
    except ValueError as exc:
        raise CheckFailedError(f"{what} did not return valid JSON: {exc}") from None


class SmokeTest:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.client = Client(base_url, timeout=timeout, headers=headers_from_env())
        self.sku = ""
        self.price_cents = 0
        self.cart_id = ""
        self.order_id = ""
        self.orders_before: dict[str, float] = {}
        self.took_order = ""

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("healthz", self.healthz),
            ("list products", self.list_products),
            ("create cart", self.create_cart),
            ("add item", self.add_item),
            ("checkout", self.checkout),
            ("read order back", self.read_order),
            ("metrics count the order", self.metrics_count_order),
        ]

    def healthz(self) -> str:
        body = _expect(self.client.get("/healthz"), 200, "GET /healthz")
        if not isinstance(body, dict) or body.get("status") != "ok":
            raise CheckFailedError(f"GET /healthz returned {body!r}")
        return f"version {body.get('version')}"

    def list_products(self) -> str:
        body = _expect(self.client.get("/products"), 200, "GET /products")
        products = body.get("products") if isinstance(body, dict) else None
        if not products:
            raise CheckFailedError("GET /products returned no products; was the catalog seeded?")
        in_stock = [p for p in products if p.get("stock", 0) > 0]
        if not in_stock:
            raise CheckFailedError("every product is sold out; nothing to order")
        best = max(in_stock, key=lambda p: p["stock"])
        self.sku, self.price_cents = best["sku"], best["price_cents"]
        return f"{len(products)} products; ordering {self.sku}"

    def create_cart(self) -> str:
        body = _expect(self.client.post("/carts"), 201, "POST /carts")
        self.cart_id = body["id"]
        return f"cart {self.cart_id}"

    def add_item(self) -> str:
        reply = self.client.post(f"/carts/{self.cart_id}/items", {"sku": self.sku, "quantity": 1})
        body = _expect(reply, 200, "POST /carts/{id}/items")
        if body.get("total_cents") != self.price_cents:
            raise CheckFailedError(
                f"cart total is {body.get('total_cents')}, expected {self.price_cents}"
            )
        return f"cart total {self.price_cents} cents"

    def checkout(self) -> str:
        self.orders_before = self._orders_by_instance()
        reply = self.client.post("/checkout", {"cart_id": self.cart_id})
        body = _expect(reply, 201, "POST /checkout")
        self.took_order = reply.headers.get("x-shop-instance", "")
        if body.get("total_cents") != self.price_cents:
            raise CheckFailedError(
                f"order total is {body.get('total_cents')}, expected {self.price_cents}"
            )
        self.order_id = body["order_id"]
        return f"order {self.order_id}"

    def read_order(self) -> str:
        body = _expect(self.client.get(f"/orders/{self.order_id}"), 200, "GET /orders/{id}")
        skus = [line.get("sku") for line in body.get("lines", [])]
        if skus != [self.sku] or body.get("total_cents") != self.price_cents:
            raise CheckFailedError(
                f"the stored order does not match the checkout: {json.dumps(body)}"
            )
        return f"order {self.order_id} stored"

    def metrics_count_order(self) -> str:
        # Behind a load balancer each answer may come from another instance: compare the
        # counter of the instance that took the order with its own value before.
        instance = self.took_order
        after = self._orders_by_instance(until=instance).get(instance)
        if after is None:
            raise CheckFailedError(f"GET /metrics never came from {instance or 'the shop'}")
        before = self.orders_before.get(instance, 0.0)
        if after < before + 1:
            raise CheckFailedError(
                f"shop_orders_total went from {before:g} to {after:g}; the order was not counted"
            )
        return f"shop_orders_total {before:g} -> {after:g}"

    def _orders_by_instance(self, until: str | None = None) -> dict[str, float]:
        """shop_orders_total of each instance that answered a few reads of /metrics (or
        until ``until`` answered)."""
        found: dict[str, float] = {}
        for _ in range(_READS):
            reply = self.client.get("/metrics")
            if reply.status != 200:
                raise CheckFailedError(f"GET /metrics answered {reply.status}")
            try:
                value = metrics.parse(reply.text).get("shop_orders_total")
            except ValueError as exc:
                raise CheckFailedError(
                    f"GET /metrics is not valid exposition format: {exc}"
                ) from None
            if value is None:
                raise CheckFailedError("GET /metrics has no shop_orders_total")
            instance = reply.headers.get("x-shop-instance", "")
            found.setdefault(instance, value)
            if (until is not None and instance == until) or not instance:
                break
        return found


def headers_from_env() -> dict[str, str]:
    """The headers ``ANDON_HEADERS`` names (``Name: value`` per line): how a deployment
    sends the smoke test to the version it checks."""
    found = {}
    for line in os.environ.get("ANDON_HEADERS", "").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip():
            found[name.strip()] = value.strip()
    return found


_READS = 12


def run(base_url: str, out: TextIO | None = None, timeout: float = 10.0) -> bool:
    """Run every check against `base_url`, printing one line each; True if all pass."""
    # Looked up at call time, not as a default argument, so redirection works.
    out = out or sys.stdout
    checks = SmokeTest(base_url, timeout).checks()
    failed: str | None = None
    for name, check in checks:
        if failed is not None:
            print(f"skip {name}: needs '{failed}'", file=out)
            continue
        try:
            detail = check()
        except CheckFailedError as exc:
            detail, failed = str(exc), name
        except OSError as exc:
            detail, failed = f"cannot reach {base_url}: {exc}", name
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            detail, failed = f"unexpected response shape ({exc!r})", name
        print(f"{'FAIL' if failed == name else 'ok  '} {name}: {detail}", file=out)
    verdict = "passed" if failed is None else "FAILED"
    print(f"smoke test {verdict} against {base_url}", file=out)
    return failed is None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shop.smoke", description="Smoke-test a running shop."
    )
    parser.add_argument("url", help="base URL of one shop instance, e.g. http://127.0.0.1:8080")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    args = parser.parse_args(argv)
    try:
        ok = run(args.url, timeout=args.timeout)
    except ValueError as exc:  # a malformed URL
        parser.error(str(exc))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
