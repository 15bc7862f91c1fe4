"""How two environments differ, driven by golden cases in ``diff_cases/*.json``: two
snapshots and every difference with its sentence; no secret value ever appears."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from andon.environments import EnvironmentSnapshot, assess_difference

CASES = sorted((Path(__file__).parent / "diff_cases").glob("*.json"))


def snapshot(data: dict[str, Any]) -> EnvironmentSnapshot:
    return EnvironmentSnapshot(**data)


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_diff_case(path: Path) -> None:
    case = json.loads(path.read_text())

    found = assess_difference(snapshot(case["left"]), snapshot(case["right"]))

    assert [item.to_dict() for item in found] == case["expect"]
    for side in ("left", "right"):
        for fingerprint in case[side]["secrets"].values():
            assert fingerprint not in json.dumps([item.to_dict() for item in found])
