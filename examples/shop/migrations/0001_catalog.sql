-- The catalog: what the shop sells, at what price, and how many are left.
-- Prices are integer cents so money never goes through floating point.
CREATE TABLE products (
    sku         TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    -- The CHECK is the last line of defence against overselling: a checkout
    -- that would drive stock negative fails instead of committing.
    stock       INTEGER NOT NULL CHECK (stock >= 0)
);
