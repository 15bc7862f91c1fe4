"""The config template: the platform renders it with Jinja2; the shop must accept the result."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from shop.config import Config, FaultConfig, load_config, parse_config

jinja2 = pytest.importorskip("jinja2")
jinja2_meta = pytest.importorskip("jinja2.meta")

TEMPLATE = Path(__file__).resolve().parents[1] / "config" / "shop.toml.j2"
TEMPLATE_VARIABLES = {
    "shop_name",
    "database_path",
    "checkout_error_rate",
    "added_latency_ms",
    "drop_orders",
    "order_drop_rate",
    "new_checkout",
}

jinja2 = pytest.importorskip("jinja2")


def render(**variables: Any) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return str(env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(**variables))


def test_template_uses_exactly_the_documented_variables() -> None:
    env = jinja2.Environment()
    ast = env.parse(TEMPLATE.read_text(encoding="utf-8"))
    assert jinja2_meta.find_undeclared_variables(ast) == TEMPLATE_VARIABLES


def test_rendered_template_is_accepted_by_config() -> None:
    text = render(
        shop_name='Shop "Prod" \\ EU',
        database_path="C:\\data\\shop.db",
        checkout_error_rate=0.05,
        added_latency_ms=250,
        drop_orders=True,
        new_checkout=False,
    )
    config = parse_config(tomllib.loads(text))
    assert config.name == 'Shop "Prod" \\ EU'
    assert config.database_path == Path("C:\\data\\shop.db")
    assert config.faults == FaultConfig(0.05, 250, True)
    assert dict(config.features) == {"new_checkout": False}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("True", True), ("false", False), ("true", True)],
)
def test_template_booleans_accept_python_bools_and_strings(value: object, expected: bool) -> None:
    config = parse_config(tomllib.loads(render(drop_orders=value, new_checkout=value)))
    assert config.faults.drop_orders is expected
    assert config.features["new_checkout"] is expected


def test_template_renders_order_drop_rate() -> None:
    config = parse_config(tomllib.loads(render(order_drop_rate=0.3)))
    assert config.faults == FaultConfig(order_drop_rate=0.3)
    config = parse_config(tomllib.loads(render(order_drop_rate="0.25", drop_orders="true")))
    assert config.faults == FaultConfig(drop_orders=True, order_drop_rate=0.25)


def test_template_without_variables_renders_the_defaults() -> None:
    config = parse_config(tomllib.loads(render()))
    assert config.name == Config().name
    assert config.database_path == Config().database_path
    assert config.faults == FaultConfig()
    assert dict(config.features) == {"new_checkout": False}


def test_rendered_template_file_loads_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "shop.toml"
    path.write_text(
        render(database_path=str(tmp_path / "shop.db"), checkout_error_rate="0.5"),
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.database_path == tmp_path / "shop.db"
    assert config.faults.checkout_error_rate == 0.5
