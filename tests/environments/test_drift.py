"""Drift, driven by golden cases in ``drift_cases/*.json``: what was declared, what was
observed, and every difference with its sentence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from andon.environments import (
    ActualState,
    DeclaredProcess,
    DeclaredState,
    DriftItem,
    DriftKind,
    InstanceState,
    assess_drift,
    fingerprint,
    instance_names,
)

CASES = sorted((Path(__file__).parent / "drift_cases").glob("*.json"))


def declared_state(data: dict[str, Any]) -> DeclaredState:
    return DeclaredState(
        artifact=data["artifact"],
        release_files=data["release_files"],
        config=data["config"],
        processes={name: DeclaredProcess(**process) for name, process in data["processes"].items()},
        migrations=data["migrations"],
    )


def actual_state(data: dict[str, Any]) -> ActualState:
    return ActualState(
        instances=[InstanceState(**instance) for instance in data["instances"]],
        config=data["config"],
        migrations=data["migrations"],
    )


def test_there_are_enough_golden_cases() -> None:
    assert len(CASES) >= 8


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_drift_case(path: Path) -> None:
    case = json.loads(path.read_text())

    items = assess_drift(declared_state(case["declared"]), actual_state(case["actual"]))

    assert [item.to_dict() for item in items] == case["expect"]


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_no_drift_message_shows_a_variable_value(path: Path) -> None:
    case = json.loads(path.read_text())
    values = {
        value
        for instance in case["actual"]["instances"]
        for value in (instance.get("environment") or {}).values()
    }

    items = assess_drift(declared_state(case["declared"]), actual_state(case["actual"]))

    assert not [item for item in items for value in values if value in item.message]


def test_an_item_survives_a_round_trip_through_json() -> None:
    item = DriftItem(DriftKind.CONFIG, "config/shop.toml", "9f8e", "1a2b", "changed by hand")

    assert DriftItem.from_dict(json.loads(json.dumps(item.to_dict()))) == item


def test_fingerprints_compare_without_revealing() -> None:
    assert fingerprint("pk_live_1") == fingerprint("pk_live_1")
    assert fingerprint("pk_live_1") != fingerprint("pk_live_2")
    assert fingerprint("pk_live_1").startswith("sha256:")
    assert "pk_live_1" not in fingerprint("pk_live_1")


def test_instances_are_named_after_their_process_from_one() -> None:
    assert instance_names("web", 3) == ["web-1", "web-2", "web-3"]
    assert instance_names("worker", 0) == []
