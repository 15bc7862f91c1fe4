"""``decide_rollout`` driven by golden cases in ``cases/*.json``: the plan (andon.yaml's
``release`` and the instances), the state, the observations and the time, then the
phase, message, actions and wakeup expected, and any fields of the state worth pinning.

``ANDON_UPDATE_GOLDEN=1 pytest tests/rollout/test_deciding.py`` rewrites the
expectations from what the decider says now; read the diff before committing it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from andon.rollout import Observations, RolloutPlan, RolloutState, decide_rollout

from .conftest import plan_from

CASES = sorted((Path(__file__).parent / "cases").glob("*.json"))
UPDATE = os.environ.get("ANDON_UPDATE_GOLDEN") == "1"


def _plan(data: dict[str, Any]) -> RolloutPlan:
    options = {key: value for key, value in data.items() if key not in ("release", "migrations")}
    return plan_from(data["release"], data.get("migrations"), **options)


def _pick(actual: dict[str, Any], pinned: dict[str, Any]) -> dict[str, Any]:
    return {key: actual[key] for key in pinned}


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_decision_case(path: Path) -> None:
    case = json.loads(path.read_text())
    plan = _plan(case["plan"])
    state = RolloutState.from_dict(case["state"])
    now = datetime.fromisoformat(case["now"])

    decision = decide_rollout(plan, state, Observations.from_dict(case["observations"]), now)

    result = decision.to_dict()
    actual = {
        "phase": decision.state.phase.value,
        "message": decision.message,
        "actions": result["actions"],
        "next_wakeup": result["next_wakeup"],
    }
    pinned = case["expect"].get("state", {})
    if UPDATE:
        case["expect"] = {**actual, "state": _pick(result["state"], pinned)} if pinned else actual
        path.write_text(json.dumps(case, indent=1, ensure_ascii=False) + "\n")
        return
    expected = {key: value for key, value in case["expect"].items() if key != "state"}
    assert actual == expected
    assert _pick(result["state"], pinned) == pinned


def test_there_are_cases_for_every_strategy_and_command() -> None:
    texts = [path.read_text() for path in CASES]
    for word in ("recreate", "rolling", "blue-green", "canary"):
        assert any(f'"strategy": "{word}"' in text for text in texts), word
    for command in ("approve", "promote", "promote_full", "pause", "resume", "abort", "retry"):
        assert any(f'"kind": "{command}"' in text for text in texts), command
    assert len(CASES) >= 30
