"""Resolving ``from:`` and layering the values config templates are rendered with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from andon.environments import (
    DatabaseInfo,
    layer_values,
    provided_values,
    resolve_environment,
)
from andon.errors import NotFoundError, UsageError
from andon.spec import AndonSpec, DatabaseEngine, Strategy, parse_duration, parse_spec

BASE = """
version: 1
service: {name: shop}
processes: {web: {command: python -m shop}}
"""


def spec_with(environments: str, config: str = "") -> AndonSpec:
    return parse_spec(BASE + config + environments)


def test_an_environment_without_from_is_returned_as_declared(shop_spec: AndonSpec) -> None:
    prod = resolve_environment(shop_spec, "prod")

    assert prod == shop_spec.environments["prod"]


def test_a_copy_gets_what_it_does_not_override_from_its_source(shop_spec: AndonSpec) -> None:
    staging = resolve_environment(shop_spec, "staging")

    assert staging.strategy is Strategy.RECREATE
    assert staging.instances == {"web": 1}
    assert staging.auto_deploy is False
    assert staging.values == {"shop_name": "Andon Shop (staging)"}
    assert staging.from_ is None


def test_a_chain_of_copies_is_resolved_to_its_root(shop_spec: AndonSpec) -> None:
    preview = resolve_environment(shop_spec, "preview")

    assert preview.strategy is Strategy.RECREATE
    assert preview.instances == {"web": 1}
    assert preview.auto_deploy is False
    assert preview.values == {"shop_name": "Andon Shop (staging)"}
    assert preview.ttl == parse_duration("2h")


def test_values_of_a_copy_are_merged_key_by_key_even_when_nested() -> None:
    spec = spec_with("""
environments:
  base:
    values: {a: 1, nested: {x: 1, y: 2}, list: [1, 2]}
  copy:
    from: base
    values: {b: 2, nested: {y: 20}, list: [3]}
""")

    assert resolve_environment(spec, "copy").values == {
        "a": 1,
        "b": 2,
        "nested": {"x": 1, "y": 20},
        "list": [3],
    }
    assert spec.environments["base"].values["nested"] == {"x": 1, "y": 2}


def test_a_key_given_as_its_default_still_overrides_the_source() -> None:
    spec = spec_with("""
environments:
  prod: {protected: true, approval: required}
  copy: {from: prod, protected: false}
""")

    copy = resolve_environment(spec, "copy")

    assert copy.protected is False
    assert copy.approval == "required"


def test_an_unknown_environment_is_not_found_with_a_suggestion(shop_spec: AndonSpec) -> None:
    with pytest.raises(
        NotFoundError, match=r"no environment 'stagin' \(did you mean 'staging'\?\)"
    ):
        resolve_environment(shop_spec, "stagin")


def test_a_cycle_of_copies_is_refused_rather_than_looping() -> None:
    # load_spec reports cycles; a spec built in code could still hold one.
    spec = spec_with("environments: {a: {}, b: {}}")
    environments = dict(spec.environments)
    environments["a"] = environments["a"].model_copy(update={"from_": "b"})
    environments["b"] = environments["b"].model_copy(update={"from_": "a"})
    cyclic = spec.model_copy(update={"environments": environments})

    with pytest.raises(UsageError, match="environments a → b → a copy each other in a cycle"):
        resolve_environment(cyclic, "a")


def test_layers_are_config_then_environment_then_secrets(shop_spec: AndonSpec) -> None:
    values = layer_values(shop_spec, "staging", {"PAYMENT_API_KEY": "pk_live_1"})

    assert values["shop_name"] == "Andon Shop (staging)"
    assert values["added_latency_ms"] == 0
    assert values["PAYMENT_API_KEY"] == "pk_live_1"


def test_a_secret_wins_over_a_value_of_the_same_name() -> None:
    spec = spec_with(
        "environments: {dev: {values: {token: from-env}}}\nsecrets: [token]\n",
        "config: {values: {token: from-config}}\n",
    )

    assert layer_values(spec, "dev", {})["token"] == "from-env"
    assert layer_values(spec, "dev", {"token": "from-secret"})["token"] == "from-secret"


def test_andon_provides_env_service_version_and_the_sqlite_database(
    shop_spec: AndonSpec, tmp_path: Path
) -> None:
    path = tmp_path / "shop.db"
    database = DatabaseInfo(engine=DatabaseEngine.SQLITE, url=f"sqlite:///{path}", path=path)

    values = layer_values(shop_spec, "test", {}, version="a1b2c3d", database=database)

    assert values["env"] == "test"
    assert values["service"] == "shop"
    assert values["version"] == "a1b2c3d"
    assert values["database_url"] == f"sqlite:///{path}"
    # The shop declares database_path: shop.db for running by hand; Andon's wins.
    assert values["database_path"] == str(path)


def test_andon_provides_the_postgres_database_name_and_url(shop_spec: AndonSpec) -> None:
    database = DatabaseInfo(
        engine=DatabaseEngine.POSTGRES,
        url="postgresql://app:pw@db:5432/andon_shop_test",
        name="andon_shop_test",
    )

    values = provided_values(shop_spec, "test", database=database)

    assert values == {
        "env": "test",
        "service": "shop",
        "version": "",
        "database_url": "postgresql://app:pw@db:5432/andon_shop_test",
        "database_name": "andon_shop_test",
    }


def test_without_a_database_the_declared_database_path_stands(shop_spec: AndonSpec) -> None:
    assert layer_values(shop_spec, "dev", {})["database_path"] == "shop.db"


def test_the_layered_values_are_a_copy_the_caller_may_change() -> None:
    spec = spec_with("environments: {dev: {}}\n", "config: {values: {nested: {a: 1}}}\n")

    values: dict[str, Any] = layer_values(spec, "dev", {})
    values["nested"]["a"] = 2

    assert spec.config.values == {"nested": {"a": 1}}
