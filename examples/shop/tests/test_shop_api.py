"""The HTTP API against a real server on an ephemeral port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
from shop import migrate
from shop.client import Reply
from shop.testing import RunningShop


def product(live_shop: RunningShop, sku: str) -> dict[str, Any]:
    reply = live_shop.client.get(f"/products/{sku}")
    assert reply.status == 200
    body: dict[str, Any] = reply.json()
    return body


def new_cart(live_shop: RunningShop, **items: int) -> str:
    """Create a cart holding `items`, given as sku_with_underscores=quantity."""
    reply = live_shop.client.post("/carts")
    assert reply.status == 201
    cart_id: str = reply.json()["id"]
    for sku, quantity in items.items():
        added = live_shop.client.post(
            f"/carts/{cart_id}/items", {"sku": sku.replace("_", "-"), "quantity": quantity}
        )
        assert added.status == 200, added.text
    return cart_id


def assert_error(reply: Reply, status: int) -> str:
    assert reply.status == status, reply.text
    assert reply.headers["content-type"] == "application/json"
    message = reply.json()["error"]
    assert isinstance(message, str)
    assert message.endswith(".")
    return message


# -- catalog ---------------------------------------------------------------------


def test_index_page_lists_the_catalog(live_shop: RunningShop) -> None:
    reply = live_shop.client.get("/")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Test Shop</title>" in reply.text
    assert "Enamel mug" in reply.text
    assert "Kanban cards, pack of 100" in reply.text


def test_list_products(live_shop: RunningShop) -> None:
    reply = live_shop.client.get("/products")
    assert reply.status == 200
    products = reply.json()["products"]
    assert len(products) == 8
    assert set(products[0]) == {"sku", "name", "price_cents", "stock"}
    assert [p["sku"] for p in products] == sorted(p["sku"] for p in products)


def test_get_product(live_shop: RunningShop) -> None:
    assert product(live_shop, "enamel-mug") == {
        "sku": "enamel-mug",
        "name": "Enamel mug",
        "price_cents": 1400,
        "stock": 60,
    }


def test_unknown_product_is_404(live_shop: RunningShop) -> None:
    message = assert_error(live_shop.client.get("/products/no-such-thing"), 404)
    assert "no-such-thing" in message


# -- carts -------------------------------------------------------------------------


def test_cart_lifecycle(live_shop: RunningShop) -> None:
    created = live_shop.client.post("/carts")
    assert created.status == 201
    cart_id = created.json()["id"]
    assert created.headers["location"] == f"/carts/{cart_id}"

    live_shop.client.post(f"/carts/{cart_id}/items", {"sku": "enamel-mug", "quantity": 2})
    reply = live_shop.client.post(f"/carts/{cart_id}/items", {"sku": "sticky-notes", "quantity": 1})
    assert reply.status == 200
    # Adding the same SKU again adds to the line rather than replacing it.
    live_shop.client.post(f"/carts/{cart_id}/items", {"sku": "enamel-mug", "quantity": 1})

    cart = live_shop.client.get(f"/carts/{cart_id}").json()
    assert cart["status"] == "open"
    assert [(line["sku"], line["quantity"]) for line in cart["lines"]] == [
        ("enamel-mug", 3),
        ("sticky-notes", 1),
    ]
    assert cart["lines"][0]["line_total_cents"] == 3 * 1400
    assert cart["total_cents"] == 3 * 1400 + 650


def test_unknown_cart_and_unknown_sku_are_404(live_shop: RunningShop) -> None:
    assert_error(live_shop.client.get("/carts/nope"), 404)
    assert_error(
        live_shop.client.post("/carts/nope/items", {"sku": "enamel-mug", "quantity": 1}), 404
    )
    cart_id = new_cart(live_shop)
    message = assert_error(
        live_shop.client.post(f"/carts/{cart_id}/items", {"sku": "unicorn", "quantity": 1}), 404
    )
    assert "unicorn" in message


# -- checkout ----------------------------------------------------------------------


def test_checkout_happy_path(live_shop: RunningShop) -> None:
    cart_id = new_cart(live_shop, enamel_mug=2, sticky_notes=1)
    reply = live_shop.client.post("/checkout", {"cart_id": cart_id})
    assert reply.status == 201
    body = reply.json()
    assert body["total_cents"] == 2 * 1400 + 650
    assert reply.headers["location"] == f"/orders/{body['order_id']}"

    order = live_shop.client.get(f"/orders/{body['order_id']}").json()
    assert order["cart_id"] == cart_id
    assert order["total_cents"] == body["total_cents"]
    assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [
        ("enamel-mug", 2),
        ("sticky-notes", 1),
    ]
    assert product(live_shop, "enamel-mug")["stock"] == 58
    assert product(live_shop, "sticky-notes")["stock"] == 299

    cart = live_shop.client.get(f"/carts/{cart_id}").json()
    assert (cart["status"], cart["order_id"]) == ("checked_out", body["order_id"])


def test_a_cart_is_checked_out_only_once(live_shop: RunningShop) -> None:
    cart_id = new_cart(live_shop, enamel_mug=1)
    assert live_shop.client.post("/checkout", {"cart_id": cart_id}).status == 201
    assert_error(live_shop.client.post("/checkout", {"cart_id": cart_id}), 409)
    assert_error(
        live_shop.client.post(f"/carts/{cart_id}/items", {"sku": "enamel-mug", "quantity": 1}),
        409,
    )
    assert product(live_shop, "enamel-mug")["stock"] == 59


def test_insufficient_stock_is_409_and_changes_nothing(live_shop: RunningShop) -> None:
    cart_id = new_cart(live_shop, enamel_mug=1, signal_lamp_red=26)  # only 25 in stock
    message = assert_error(live_shop.client.post("/checkout", {"cart_id": cart_id}), 409)
    assert message == "Not enough stock for 'signal-lamp-red': 26 requested, 25 available."
    assert product(live_shop, "enamel-mug")["stock"] == 60
    assert product(live_shop, "signal-lamp-red")["stock"] == 25
    assert live_shop.client.get(f"/carts/{cart_id}").json()["status"] == "open"


def test_empty_and_unknown_carts_cannot_check_out(live_shop: RunningShop) -> None:
    assert "empty" in assert_error(
        live_shop.client.post("/checkout", {"cart_id": new_cart(live_shop)}), 400
    )
    assert_error(live_shop.client.post("/checkout", {"cart_id": "no-such-cart"}), 404)


def test_concurrent_checkouts_never_oversell(live_shop: RunningShop) -> None:
    # signal-lamp-amber has 25 in stock; 8 buyers want 5 each, so exactly 5 can succeed.
    carts = [new_cart(live_shop, signal_lamp_amber=5) for _ in range(8)]
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(carts))

    def buy(cart_id: str) -> None:
        barrier.wait()
        status = live_shop.client.post("/checkout", {"cart_id": cart_id}).status
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=buy, args=(c,)) for c in carts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 5 + [409] * 3
    assert product(live_shop, "signal-lamp-amber")["stock"] == 0


def test_unknown_order_is_404(live_shop: RunningShop) -> None:
    assert_error(live_shop.client.get("/orders/nope"), 404)


# -- malformed requests ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "it is empty"),
        (b"[1, 2]", "must be a JSON object, not an array"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"sku": 5, "quantity": 1}', "Field 'sku' must be a non-empty string"),
        (b'{"quantity": 1}', "Field 'sku' must be a non-empty string, but it is missing"),
        (b'{"sku": "enamel-mug", "quantity": "2"}', "Field 'quantity' must be an integer"),
        (b'{"sku": "enamel-mug", "quantity": true}', "Field 'quantity' must be an integer"),
        (b'{"sku": "enamel-mug", "quantity": 1.5}', "Field 'quantity' must be an integer"),
        (b'{"sku": "enamel-mug", "quantity": 0}', "from 1 to 1000"),
        (b'{"sku": "enamel-mug", "quantity": 1001}', "from 1 to 1000"),
    ],
)
def test_bad_item_bodies_are_400(live_shop: RunningShop, raw: bytes, fragment: str) -> None:
    cart_id = new_cart(live_shop)
    reply = live_shop.client.request("POST", f"/carts/{cart_id}/items", raw=raw)
    assert fragment in assert_error(reply, 400)
    assert live_shop.client.get(f"/carts/{cart_id}").json()["lines"] == []


@pytest.mark.parametrize("raw", [b"{", b'{"cart_id": 7}', b"{}", b'"cart"'])
def test_bad_checkout_bodies_are_400(live_shop: RunningShop, raw: bytes) -> None:
    assert_error(live_shop.client.request("POST", "/checkout", raw=raw), 400)


def test_oversized_body_is_413(live_shop: RunningShop) -> None:
    reply = live_shop.client.request("POST", "/checkout", raw=b" " * (64 * 1024 + 1))
    assert_error(reply, 413)


def test_a_cart_line_is_capped(live_shop: RunningShop) -> None:
    cart_id = new_cart(live_shop, kanban_cards=1000)
    reply = live_shop.client.post(f"/carts/{cart_id}/items", {"sku": "kanban-cards", "quantity": 1})
    assert "at most 1000 units" in assert_error(reply, 400)


def test_unknown_route_is_404_json(live_shop: RunningShop) -> None:
    assert "No route matches GET /nowhere" in assert_error(live_shop.client.get("/nowhere"), 404)
    assert_error(live_shop.client.get("/products/"), 404)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/products", "GET, HEAD"),
        ("POST", "/products/enamel-mug", "GET, HEAD"),
        ("GET", "/checkout", "POST"),
        ("PUT", "/carts", "POST"),
    ],
)
def test_wrong_method_is_405(live_shop: RunningShop, method: str, path: str, allow: str) -> None:
    reply = live_shop.client.request(method, path)
    assert_error(reply, 405)
    assert reply.headers["allow"] == allow


def test_head_is_get_without_a_body(live_shop: RunningShop) -> None:
    reply = live_shop.client.request("HEAD", "/products")
    assert reply.status == 200
    assert reply.body == b""
    assert int(reply.headers["content-length"]) > 0


# -- health ------------------------------------------------------------------------


def test_healthz(live_shop: RunningShop) -> None:
    reply = live_shop.client.get("/healthz")
    assert reply.status == 200
    assert reply.json() == {"status": "ok", "version": "test"}


def test_healthz_is_503_until_migrations_are_applied(
    shop_factory: Callable[..., RunningShop],
) -> None:
    shop = shop_factory(migrated=False, seeded=False)
    # No database file at all: the server must not create one behind our back.
    reply = shop.client.get("/healthz")
    assert reply.status == 503
    assert reply.json()["status"] == "unavailable"
    assert not shop.database.exists()

    migrations = migrate.discover()
    migrate.apply(shop.database, migrations[:1])
    reply = shop.client.get("/healthz")
    assert reply.status == 503
    assert "schema is at version 1 but this release needs 2" in reply.json()["error"]

    migrate.apply(shop.database, migrations)
    assert shop.client.get("/healthz").status == 200


def test_healthz_accepts_a_schema_ahead_of_the_code(live_shop: RunningShop) -> None:
    # During a rollback the previous release runs on the newer schema.
    live_shop.app.required_schema = 1
    assert live_shop.client.get("/healthz").status == 200


def test_a_body_shorter_than_its_content_length_is_400(live_shop: RunningShop) -> None:
    host, port = live_shop.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"POST /checkout HTTP/1.0\r\nContent-Length: 50\r\n\r\n{}")
        conn.shutdown(socket.SHUT_WR)  # the client hangs up its side early
        with conn.makefile("rb") as answer:
            status_line = answer.readline()
            assert status_line.startswith(b"HTTP/1.0 400"), status_line
            assert b"shorter than its Content-Length" in answer.read()


def test_a_path_that_looks_like_a_broken_url_is_a_plain_404(live_shop: RunningShop) -> None:
    assert live_shop.client.get("//[").status == 404
