"""Whole blue-green rollouts, tick by tick: green starts beside blue, is smoke-tested,
takes all traffic in one switch; blue stays warm for scale_down_delay, so that a failed
background analysis (or undo) is one switch back."""

from __future__ import annotations

from typing import Any

from andon.rollout import (
    Outcome,
    PauseReason,
    Phase,
    RolloutState,
    SetTraffic,
    StopInstances,
    Verdict,
    plan_undo,
)

from .conftest import T0, FakeWorld, drive, make_plan

RELEASE: dict[str, Any] = {
    "strategy": "blue-green",
    "blue_green": {"scale_down_delay": "10m"},
    "analysis": {
        "metrics": [{"name": "errors", "query": "error_rate", "threshold": {"max": "1%"}}]
    },
}
FAILED = "error rate 4.1% vs the baseline of v1 0.2% over 1,830 requests (p < 0.001)"


def test_blue_green_switches_at_once_and_stops_blue_after_the_delay(world: FakeWorld) -> None:
    plan = make_plan(RELEASE)
    state, _ = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    assert state.phase is Phase.SUCCEEDED
    assert [split.weights for split in world.splits] == [{"v1": 100}, {"v2": 100}]
    switched = next(
        at for at, a in world.actions if isinstance(a, SetTraffic) and "v2" in a.traffic.weights
    )
    stopped = next(at for at, a in world.actions if a == StopInstances("v1"))
    assert (stopped - switched).total_seconds() == 600


def test_blue_green_switches_back_when_the_background_analysis_fails(world: FakeWorld) -> None:
    world.judge = lambda run: Verdict(run.run, Outcome.FAIL, FAILED)
    plan = make_plan(RELEASE)
    state, decisions = drive(
        plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world
    )

    assert state.phase is Phase.ROLLED_BACK
    assert decisions[-1].message == f"rolled back: {FAILED}"
    # Blue was warm: one switch back, no instance of it had to start again.
    assert [split.weights for split in world.splits] == [{"v1": 100}, {"v2": 100}, {"v1": 100}]
    assert world.ready == {"v1": 3, "v2": 0}


def test_blue_green_freezes_instead_of_switching_back_when_unsafe(world: FakeWorld) -> None:
    world.judge = lambda run: Verdict(run.run, Outcome.FAIL, FAILED)
    plan = make_plan(RELEASE, migrations={"command": "migrate", "compatible": False})
    begun = RolloutState.begin(plan, stable="v1", canary="v2", now=T0)
    state, _ = drive(plan, begun, world, until=lambda s: s.phase is Phase.PAUSED)

    assert state.pause is not None and state.pause.reason is PauseReason.FROZEN
    assert world.traffic.weights == {"v2": 100} and world.ready["v1"] == 3
    world.command_when(lambda s: True, "promote:fixing forward")
    state, _ = drive(plan, state, world)

    assert state.phase is Phase.SUCCEEDED and world.ready["v1"] == 0


def test_blue_green_waits_for_promote_without_auto_promote(world: FakeWorld) -> None:
    plan = make_plan({**RELEASE, "blue_green": {"auto_promote": False}})
    begun = RolloutState.begin(plan, stable="v1", canary="v2", now=T0)
    state, _ = drive(plan, begun, world, until=lambda s: s.phase is Phase.PAUSED)

    assert state.pause is not None and state.pause.reason is PauseReason.AWAITING_PROMOTION
    assert world.traffic.weights == {"v1": 100}
    world.command_when(lambda s: True, "promote")
    state, _ = drive(plan, state, world)

    assert state.phase is Phase.SUCCEEDED


def test_undo_while_blue_is_warm_is_one_switch_back(world: FakeWorld) -> None:
    plan = make_plan(RELEASE)
    begun = RolloutState.begin(plan, stable="v1", canary="v2", now=T0)
    state, _ = drive(plan, begun, world, until=lambda s: s.phase is Phase.FINALIZING)
    undo = plan_undo(plan, state, world.now, by="ann")

    assert undo.command is not None and undo.plan is None
    world.command_when(lambda s: True, "abort:undo")
    splits = len(world.splits)
    state, decisions = drive(plan, state, world)

    assert state.phase is Phase.ABORTED
    assert len(decisions) == 1 and world.splits[splits:] == [world.splits[0].only("v1")]
