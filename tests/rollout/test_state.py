"""The rollout's state is its whole memory: it survives JSON (the store), and a
reconciler killed mid-rollout decides, after a restart, exactly as the one that died."""

from __future__ import annotations

import json
from typing import Any

import pytest

from andon.errors import ConflictError
from andon.rollout import (
    DecisionKind,
    Phase,
    RolloutPlan,
    RolloutState,
    decide_rollout,
)

from .conftest import T0, FakeWorld, drive, make_plan

CANARY: dict[str, Any] = {
    "strategy": "canary",
    "steps": [{"weight": "20%"}, {"analysis": {"duration": "1m"}}, {"pause": "2m"}, {"bake": "1m"}],
    "analysis": {
        "metrics": [{"name": "errors", "query": "error_rate", "threshold": {"max": "1%"}}]
    },
}


def _through_json(state: RolloutState) -> RolloutState:
    return RolloutState.from_dict(json.loads(json.dumps(state.to_dict())))


def test_every_state_of_a_rollout_survives_json(world: FakeWorld) -> None:
    plan = make_plan(CANARY)
    _, decisions = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    phases = {decision.state.phase for decision in decisions}
    assert {Phase.PAUSED, Phase.BAKING, Phase.FINALIZING, Phase.SUCCEEDED} <= phases
    for decision in decisions:
        assert _through_json(decision.state) == decision.state


def test_a_restarted_reconciler_resumes_at_the_same_step(world: FakeWorld) -> None:
    plan = make_plan(CANARY)
    begun = RolloutState.begin(plan, stable="v1", canary="v2", now=T0)
    paused, _ = drive(plan, begun, world, until=lambda s: s.phase is Phase.PAUSED)
    stored_plan, stored_state = json.dumps(plan.to_dict()), json.dumps(paused.to_dict())

    # kill -9: everything but the store is lost; the new reconciler reads it back.
    plan_again = RolloutPlan.from_dict(json.loads(stored_plan))
    state_again = RolloutState.from_dict(json.loads(stored_state))
    assert (plan_again, state_again) == (plan, paused)
    assert state_again.step_index == 2 and state_again.traffic.weight_of("v2") == 20
    finished, _ = drive(plan_again, state_again, world)

    assert finished.phase is Phase.SUCCEEDED
    assert [split.weight_of("v2") for split in world.splits] == [0, 20, 100]


def test_a_new_rollout_says_before_it_starts_that_rollback_is_unsafe() -> None:
    plan = make_plan(CANARY, migrations={"command": "m", "compatible": False})
    state = RolloutState.begin(plan, stable="v1", canary="v2", now=T0, by="ann")

    assert [record.kind for record in state.decisions] == [
        DecisionKind.CREATED,
        DecisionKind.WARNING,
    ]
    assert state.decisions[0].sentence == "rollout of v2 over v1 by canary asked by ann"
    assert not state.rollback_safe and state.phase is Phase.PENDING


def test_deciding_twice_with_the_same_inputs_gives_the_same_decision(world: FakeWorld) -> None:
    plan = make_plan(CANARY)
    state = RolloutState.begin(plan, stable="v1", canary="v2", now=T0)
    seen = world.observe(state)

    assert decide_rollout(plan, state, seen, T0) == decide_rollout(plan, state, seen, T0)


def test_states_stored_without_newer_fields_still_read() -> None:
    state = RolloutState.from_dict(
        {"strategy": "rolling", "stable": "v1", "canary": "v2", "phase": "progressing",
         "created_at": T0.isoformat()}
    )  # fmt: skip

    assert state.attempt == 1 and state.rolling.replaced == 0 and state.decisions == ()


def test_a_rollout_of_the_version_that_serves_is_refused() -> None:
    plan = make_plan(CANARY)

    with pytest.raises(ConflictError, match="v1 serves this environment already"):
        RolloutState.begin(plan, stable="v1", canary="v1", now=T0)
