"""Properties over arbitrary input: no request can make the shop answer 500.

These drive :class:`ShopApp` directly, without sockets, which keeps hundreds
of generated requests fast.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shop import metrics, migrate, seed
from shop.app import ShopApp
from shop.config import Config
from shop.web import Request, Response

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=10,
)
ITEM_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "sku": JSON | st.sampled_from(["enamel-mug", "unicorn", ""]),
        "quantity": JSON | st.integers(-5, 2000),
    },
)
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> ShopApp:
    database: Path = tmp_path_factory.mktemp("properties") / "shop.db"
    migrate.apply(database, migrate.discover())
    seed.seed(database)
    return ShopApp(Config(database_path=database), version="prop")


def call(app: ShopApp, method: str, target: str, body: bytes = b"") -> Response:
    headers = {"content-length": str(len(body))} if body else {}
    return app.handle(Request(method, target, headers, io.BytesIO(body)))


def assert_well_formed(response: Response) -> Any:
    assert response.status < 500, response.body
    if response.content_type == "application/json":
        payload = json.loads(response.body)
        if response.status >= 400:
            assert isinstance(payload["error"], str)
        return payload
    return None


@PROPERTY_SETTINGS
@given(body=ITEM_BODIES)
def test_any_item_body_gets_a_clear_answer(app: ShopApp, body: dict[str, Any]) -> None:
    cart_id = assert_well_formed(call(app, "POST", "/carts"))["id"]
    response = call(app, "POST", f"/carts/{cart_id}/items", json.dumps(body).encode())
    assert response.status in (200, 400, 404)
    assert_well_formed(response)


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=200))
def test_any_bytes_to_checkout_get_a_clear_answer(app: ShopApp, raw: bytes) -> None:
    response = call(app, "POST", "/checkout", raw)
    assert response.status in (400, 404)
    assert_well_formed(response)


@PROPERTY_SETTINGS
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
    path=st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=30),
)
def test_any_path_gets_a_clear_answer(app: ShopApp, method: str, path: str) -> None:
    response = call(app, method, "/" + path)
    assert_well_formed(response)
    samples = metrics.parse(app.metrics.render())
    routes = {
        dict(labels)["route"]
        for name, labels in samples.values
        if name == "shop_http_requests_total"
    }
    # However odd the path, the route label stays one of the templates.
    assert routes <= {*app.router.templates, "unmatched"}
