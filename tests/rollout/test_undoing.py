"""``andon rollout undo``: an abort while the old version is warm, a new blue-green
rollout back to it once the rollout succeeded, and a clear refusal otherwise."""

from __future__ import annotations

from dataclasses import replace

import pytest

from andon.errors import ConflictError
from andon.rollout import CommandKind, Phase, RolloutState, plan_undo

from .conftest import T0, FakeWorld, drive, make_plan

PLAN = make_plan({"strategy": "canary", "steps": [{"weight": "50%"}]})


def test_undo_after_success_is_a_blue_green_rollout_back(world: FakeWorld) -> None:
    done, _ = drive(PLAN, RolloutState.begin(PLAN, stable="v1", canary="v2", now=T0), world)
    undo = plan_undo(PLAN, done, world.now, by="ann")

    assert undo.plan is not None and undo.state is not None and undo.command is None
    assert undo.plan.strategy.value == "blue-green" and not undo.plan.migrations
    assert (undo.state.stable, undo.state.canary) == ("v2", "v1")
    back, _ = drive(undo.plan, undo.state, world)

    assert back.phase is Phase.SUCCEEDED
    assert world.traffic.weights == {"v1": 100} and world.ready == {"v1": 3, "v2": 0}


def test_undo_of_a_live_rollout_is_an_abort() -> None:
    live = replace(
        RolloutState.begin(PLAN, stable="v1", canary="v2", now=T0), phase=Phase.FINALIZING
    )
    undo = plan_undo(PLAN, live, T0, by="ann")

    assert undo.command is not None and undo.command.kind is CommandKind.ABORT
    assert undo.sentence == "undo: v1 still runs, so all traffic switches back to it now"


def test_undo_after_incompatible_migrations_warns_that_they_stay() -> None:
    plan = make_plan({"strategy": "canary"}, migrations={"command": "m", "compatible": False})
    done = replace(
        RolloutState.begin(plan, stable="v1", canary="v2", now=T0), phase=Phase.SUCCEEDED
    )
    undo = plan_undo(plan, done, T0)

    assert undo.state is not None
    assert "migrations are not undone" in undo.state.decisions[-1].sentence


@pytest.mark.parametrize(
    ("stable", "phase", "why"),
    [
        (None, Phase.SUCCEEDED, "there is no release to undo to"),
        ("v1", Phase.ROLLED_BACK, "there is nothing to undo"),
        ("v1", Phase.ROLLING_BACK, "rolling back to v1 already"),
    ],
)
def test_undo_with_nothing_to_return_to_is_refused(
    stable: str | None, phase: Phase, why: str
) -> None:
    last = replace(RolloutState.begin(PLAN, stable=stable, canary="v2", now=T0), phase=phase)

    with pytest.raises(ConflictError, match=why):
        plan_undo(PLAN, last, T0)
