"""Whole rolling rollouts, tick by tick: batch by batch, the router's weights following
the ready instances; a crashing batch brings the old instances back before traffic
returns to them."""

from __future__ import annotations

from typing import Any

from andon.rollout import Phase, RolloutState, StartInstances

from .conftest import T0, FakeWorld, drive, make_plan

RELEASE: dict[str, Any] = {"strategy": "rolling", "rolling": {"batch": 1, "wait": "5s"}}


def test_rolling_replaces_one_instance_at_a_time(world: FakeWorld) -> None:
    plan = make_plan(RELEASE)
    state, _ = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    assert state.phase is Phase.SUCCEEDED
    assert [split.weights for split in world.splits[1:]] == [
        {"v1": 67, "v2": 33},
        {"v1": 33, "v2": 67},
        {"v2": 100},
    ]
    starts = [a.count for _, a in world.actions if isinstance(a, StartInstances)]
    assert starts == [1, 2, 3]


def test_rolling_with_max_unavailable_stops_old_instances_first() -> None:
    world = FakeWorld(ready={"v1": 4})
    world.traffic = world.traffic.only("v1")
    plan = make_plan(
        {"strategy": "rolling", "rolling": {"batch": "50%", "max_unavailable": 1}}, instances=4
    )
    state, _ = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    assert state.phase is Phase.SUCCEEDED
    # Batch 2 stops one old instance before its two new ones are ready: 2 new, 1 old.
    assert [split.weights for split in world.splits[1:]] == [
        {"v1": 50, "v2": 50},
        {"v1": 33, "v2": 67},
        {"v2": 100},
    ]


def test_a_crashing_batch_brings_the_old_instances_back_first(world: FakeWorld) -> None:
    world.crashing["v2"] = "exited with code 1"
    plan = make_plan(RELEASE)
    state, decisions = drive(
        plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world
    )

    assert state.phase is Phase.ROLLED_BACK
    phases = [decision.state.phase for decision in decisions]
    assert phases[-2:] == [Phase.ROLLING_BACK, Phase.ROLLED_BACK]
    assert world.ready == {"v1": 3, "v2": 0}
    assert world.splits[-1].weights == {"v1": 100}


def test_a_crashing_batch_freezes_when_rollback_is_unsafe(world: FakeWorld) -> None:
    world.crashing["v2"] = "exited with code 1"
    plan = make_plan(RELEASE, migrations={"command": "migrate", "compatible": False})
    state, _ = drive(
        plan,
        RolloutState.begin(plan, stable="v1", canary="v2", now=T0),
        world,
        until=lambda s: s.phase is Phase.PAUSED,
    )

    assert state.pause is not None and state.pause.reason.value == "frozen"
    assert world.traffic.weights == {"v1": 67, "v2": 33}


def test_promote_full_replaces_all_remaining_instances_at_once(world: FakeWorld) -> None:
    world.command_when(lambda s: s.rolling.replaced == 1, "promote_full")
    plan = make_plan({"strategy": "rolling", "rolling": {"batch": 1, "wait": "10m"}})
    state, _ = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    assert state.phase is Phase.SUCCEEDED
    assert [a.count for _, a in world.actions if isinstance(a, StartInstances)] == [1, 3]
    assert (world.now - T0).total_seconds() < 60
