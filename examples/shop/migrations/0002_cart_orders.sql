-- Carts collect items; checkout turns a cart into an order.
-- Ids are random hex strings so one customer cannot guess another's cart.
CREATE TABLE carts (
    id         TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

CREATE TABLE cart_items (
    cart_id  TEXT    NOT NULL REFERENCES carts (id),
    sku      TEXT    NOT NULL REFERENCES products (sku),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (cart_id, sku)
);

-- UNIQUE (cart_id): a cart is checked out at most once, enforced by the
-- database even if two checkout requests for the same cart race.
CREATE TABLE orders (
    id          TEXT    PRIMARY KEY,
    cart_id     TEXT    NOT NULL UNIQUE REFERENCES carts (id),
    total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
    created_at  TEXT    NOT NULL
);

-- Order lines copy name and price at checkout time, so later catalog changes
-- do not rewrite what the customer bought.
CREATE TABLE order_lines (
    order_id         TEXT    NOT NULL REFERENCES orders (id),
    sku              TEXT    NOT NULL REFERENCES products (sku),
    name             TEXT    NOT NULL,
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku)
);
