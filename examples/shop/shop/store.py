"""Catalog, carts and orders: the shop's data operations.

Functions here take an open connection and raise ``shop.errors`` exceptions
for anything the client did wrong. Functions that write expect the caller to
hold a transaction (``shop.db.transaction``): the caller decides what belongs
together, and checkout needs its reads and writes in one transaction so stock
cannot change between the check and the decrement.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from shop.errors import BadRequestError, ConflictError, NotFoundError

# Upper bound for one cart line. It keeps totals far from integer overflow and
# turns a fat-fingered quantity into a clear error instead of a huge order.
MAX_LINE_QUANTITY = 1000


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    stock: int


@dataclass(frozen=True)
class Line:
    sku: str
    name: str
    unit_price_cents: int
    quantity: int
    line_total_cents: int


@dataclass(frozen=True)
class Cart:
    id: str
    # "open", or "checked_out" once an order exists for the cart.
    status: str
    order_id: str | None
    lines: list[Line]
    total_cents: int


@dataclass(frozen=True)
class Order:
    id: str
    cart_id: str
    created_at: str
    lines: list[Line]
    total_cents: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _new_id() -> str:
    # 128 random bits: ids double as the only "authentication" for a cart.
    return uuid.uuid4().hex


def list_products(conn: sqlite3.Connection) -> list[Product]:
    rows = conn.execute("SELECT sku, name, price_cents, stock FROM products ORDER BY sku")
    return [Product(**dict(row)) for row in rows]


def get_product(conn: sqlite3.Connection, sku: str) -> Product:
    row = conn.execute(
        "SELECT sku, name, price_cents, stock FROM products WHERE sku = ?", (sku,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"There is no product with SKU '{sku}'.")
    return Product(**dict(row))


def create_cart(conn: sqlite3.Connection) -> Cart:
    cart_id = _new_id()
    conn.execute("INSERT INTO carts (id, created_at) VALUES (?, ?)", (cart_id, _now()))
    return Cart(id=cart_id, status="open", order_id=None, lines=[], total_cents=0)


def get_cart(conn: sqlite3.Connection, cart_id: str) -> Cart:
    row = conn.execute(
        """
        SELECT carts.id, orders.id AS order_id
        FROM carts LEFT JOIN orders ON orders.cart_id = carts.id
        WHERE carts.id = ?
        """,
        (cart_id,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"There is no cart with id '{cart_id}'.")
    lines = [
        Line(
            sku=r["sku"],
            name=r["name"],
            unit_price_cents=r["price_cents"],
            quantity=r["quantity"],
            line_total_cents=r["price_cents"] * r["quantity"],
        )
        for r in conn.execute(
            """
            SELECT cart_items.sku, products.name, products.price_cents, cart_items.quantity
            FROM cart_items JOIN products ON products.sku = cart_items.sku
            WHERE cart_items.cart_id = ?
            ORDER BY cart_items.sku
            """,
            (cart_id,),
        )
    ]
    return Cart(
        id=row["id"],
        status="open" if row["order_id"] is None else "checked_out",
        order_id=row["order_id"],
        lines=lines,
        total_cents=sum(line.line_total_cents for line in lines),
    )


def add_item(conn: sqlite3.Connection, cart_id: str, sku: str, quantity: int) -> Cart:
    """Add `quantity` units of `sku` to an open cart. Call inside a transaction.

    Stock is not reserved here; it is checked and taken at checkout, so an
    abandoned cart never holds stock hostage.
    """
    cart = get_cart(conn, cart_id)
    if cart.status != "open":
        raise ConflictError(f"Cart '{cart_id}' is already checked out as order '{cart.order_id}'.")
    get_product(conn, sku)  # raises NotFoundError for an unknown SKU
    existing = next((line.quantity for line in cart.lines if line.sku == sku), 0)
    if existing + quantity > MAX_LINE_QUANTITY:
        raise BadRequestError(
            f"A cart line can hold at most {MAX_LINE_QUANTITY} units; "
            f"the cart already has {existing} of '{sku}'."
        )
    conn.execute(
        """
        INSERT INTO cart_items (cart_id, sku, quantity) VALUES (?, ?, ?)
        ON CONFLICT (cart_id, sku) DO UPDATE SET quantity = quantity + excluded.quantity
        """,
        (cart_id, sku, quantity),
    )
    return get_cart(conn, cart_id)


def place_order(conn: sqlite3.Connection, cart_id: str) -> Order:
    """Turn an open cart into an order and take the stock. Call inside a transaction.

    All checks come before any write, so a refused checkout changes nothing
    even before the transaction is rolled back.
    """
    cart = get_cart(conn, cart_id)
    if cart.status != "open":
        raise ConflictError(f"Cart '{cart_id}' is already checked out as order '{cart.order_id}'.")
    if not cart.lines:
        raise BadRequestError(f"Cart '{cart_id}' is empty; add items before checking out.")
    for line in cart.lines:
        stock = get_product(conn, line.sku).stock
        if stock < line.quantity:
            raise ConflictError(
                f"Not enough stock for '{line.sku}': {line.quantity} requested, {stock} available."
            )

    order = Order(
        id=_new_id(),
        cart_id=cart_id,
        created_at=_now(),
        lines=cart.lines,
        total_cents=cart.total_cents,
    )
    conn.execute(
        "INSERT INTO orders (id, cart_id, total_cents, created_at) VALUES (?, ?, ?, ?)",
        (order.id, order.cart_id, order.total_cents, order.created_at),
    )
    for line in order.lines:
        conn.execute(
            "UPDATE products SET stock = stock - ? WHERE sku = ?", (line.quantity, line.sku)
        )
        conn.execute(
            """
            INSERT INTO order_lines (order_id, sku, name, unit_price_cents, quantity)
            VALUES (?, ?, ?, ?, ?)
            """,
            (order.id, line.sku, line.name, line.unit_price_cents, line.quantity),
        )
    return order


def get_order(conn: sqlite3.Connection, order_id: str) -> Order:
    row = conn.execute(
        "SELECT id, cart_id, total_cents, created_at FROM orders WHERE id = ?", (order_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"There is no order with id '{order_id}'.")
    lines = [
        Line(
            sku=r["sku"],
            name=r["name"],
            unit_price_cents=r["unit_price_cents"],
            quantity=r["quantity"],
            line_total_cents=r["unit_price_cents"] * r["quantity"],
        )
        for r in conn.execute(
            """
            SELECT sku, name, unit_price_cents, quantity FROM order_lines
            WHERE order_id = ? ORDER BY sku
            """,
            (order_id,),
        )
    ]
    return Order(
        id=row["id"],
        cart_id=row["cart_id"],
        created_at=row["created_at"],
        lines=lines,
        total_cents=row["total_cents"],
    )
