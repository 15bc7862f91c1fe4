"""Router configs are checked when built, report every problem with its place, and
survive a round trip through plain JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from andon.agent.router import (
    Instance,
    InstanceState,
    Limits,
    Mirror,
    Route,
    RouterConfig,
    Sticky,
    StickyFallback,
    Timeouts,
    Version,
)
from andon.errors import ConfigurationError


def _full() -> RouterConfig:
    return RouterConfig(
        env="prod",
        versions=(
            Version("v1", (Instance("10.0.0.1", 8001), Instance("10.0.0.2", 8001)), 90),
            Version("v2", (Instance("10.0.0.3", 8001, InstanceState.DRAINING),), 10),
        ),
        sticky=Sticky(header="X-User-Id", cookie="uid", fallback=StickyFallback.RANDOM),
        routes=(Route("v2", "always", header="X-Canary"), Route("v2", "beta", cookie="ch")),
        mirror=Mirror("v2", 5.0),
        timeouts=Timeouts(connect=1.0, header=5.0),
        limits=Limits(max_head_bytes=8192),
    )


def test_a_config_survives_a_round_trip_through_json() -> None:
    config = _full()
    data = json.loads(json.dumps(config.to_dict()))
    assert RouterConfig.from_dict(data) == config
    assert data["versions"][1]["instances"][0]["state"] == "draining"
    assert data["sticky"]["fallback"] == "random"


def test_defaults_fill_what_the_data_leaves_out() -> None:
    config = RouterConfig.from_dict(
        {"env": "prod", "versions": [{"name": "v1", "instances": [], "weight": 100}]}
    )
    assert config.sticky is None
    assert config.timeouts == Timeouts()
    assert config.limits.max_head_bytes == 16 * 1024


def test_every_problem_is_reported_with_its_place() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RouterConfig(
            env="prod",
            versions=(
                Version("v1", (Instance("", 0),), 80),
                Version("v1", (), 30),
            ),
            sticky=Sticky(),
            routes=(Route("v9", "x"),),
            mirror=Mirror("v3", 150),
            timeouts=Timeouts(header=0),
        )
    message = str(caught.value)
    for expected in (
        "versions[0].instances[0].port: 0 is not a port",
        "versions[0].instances[0].host: must not be empty",
        "versions[1].name: 'v1' is named twice",
        "versions: weights sum to 110; they must sum to 100 (or 0)",
        "sticky: name a header, a cookie or both",
        "routes[0]: name exactly one of header and cookie",
        "routes[0].version: unknown version 'v9'",
        "mirror.version: unknown version 'v3'",
        "mirror.percent: 150 is not a percentage (0 to 100)",
        "timeouts.header: must be more than 0 seconds",
    ):
        assert expected in message
    assert message.endswith("Fix it and apply again.")


def test_reading_reports_types_unknown_keys_and_missing_fields_together() -> None:
    data: dict[str, Any] = {
        "env": "prod",
        "versions": [
            {"name": "v1", "instances": [{"host": "h", "port": "80"}], "weight": 100},
            {"instances": [], "weight": True},
        ],
        "sticky": {"header": "X-User-Id", "fallback": "coin"},
        "mirrors": {},
    }
    with pytest.raises(ConfigurationError) as caught:
        RouterConfig.from_dict(data)
    message = str(caught.value)
    for expected in (
        "versions[0].instances[0].port: expected int, got str",
        "versions[1].name: missing",
        "versions[1].weight: expected int, got bool",
        "sticky.fallback: 'coin' is not one of client-ip, random",
        "mirrors: unknown key; expected one of env, versions, sticky, routes, mirror",
    ):
        assert expected in message


def test_a_config_can_name_its_versions() -> None:
    config = _full()
    assert config.version("v2").weight == 10
    with pytest.raises(KeyError):
        config.version("v3")
