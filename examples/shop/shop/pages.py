"""The HTML page for people: the catalog as a table.

Everything interpolated into the page goes through ``html.escape``; product
names come from the database and must never be able to inject markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from shop.store import Product

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 48rem; }}
  table {{ border-collapse: collapse; width: 100%; }}
  th, td {{ border-bottom: 1px solid #ddd; padding: .4rem .6rem; text-align: left; }}
  td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
  .muted {{ color: #666; font-size: .9rem; }}
</style>
</head>
<body>
<h1>{title}</h1>
<table>
<thead><tr><th>Product</th><th>SKU</th><th>Price</th><th>In stock</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p class="muted">Version {version}. The same catalog as JSON: <a href="/products">/products</a>.</p>
</body>
</html>
"""


def format_price(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def catalog_page(shop_name: str, version: str, products: Sequence[Product]) -> str:
    rows = "\n".join(
        "<tr>"
        f"<td>{escape(p.name)}</td>"
        f"<td><code>{escape(p.sku)}</code></td>"
        f'<td class="num">{format_price(p.price_cents)}</td>'
        f'<td class="num">{p.stock if p.stock else "sold out"}</td>'
        "</tr>"
        for p in products
    )
    if not products:
        rows = '<tr><td colspan="4">The catalog is empty.</td></tr>'
    return _PAGE.format(title=escape(shop_name), version=escape(version), rows=rows)
