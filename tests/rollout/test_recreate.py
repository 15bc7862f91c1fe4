"""Whole recreate rollouts, tick by tick, and the deploy steps every strategy shares:
instances that never become healthy, failing migrations and smoke tests end the
rollout with no traffic ever moved to the new version."""

from __future__ import annotations

import pytest

from andon.rollout import Phase, RolloutState, StopInstances

from .conftest import T0, FakeWorld, drive, make_plan


def test_recreate_stops_the_old_version_before_starting_the_new(world: FakeWorld) -> None:
    plan = make_plan({"strategy": "recreate"})
    state, _ = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    assert state.phase is Phase.SUCCEEDED
    kinds = [type(action).__name__ for _, action in world.actions]
    assert kinds[:3] == ["StopInstances", "StartInstances", "RecordEvent"]
    assert world.ready == {"v1": 0, "v2": 3}


def test_recreate_brings_the_old_version_back_when_smoke_tests_fail(world: FakeWorld) -> None:
    world.smoke_fail = "smoke test 'catalog answers' failed: 500"
    plan = make_plan({"strategy": "recreate"})
    state, _ = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    assert state.phase is Phase.FAILED
    assert world.ready == {"v1": 3, "v2": 0}
    assert world.splits[-1].weights == {"v1": 100} and world.splits[-1].header_routes == ()


def test_recreate_leaves_the_old_version_stopped_after_breaking_migrations(
    world: FakeWorld,
) -> None:
    world.smoke_fail = "smoke test 'a customer can buy' failed"
    plan = make_plan({"strategy": "canary"}, breaking=["0007_drop_price"])
    state, _ = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    assert plan.strategy.value == "recreate"
    assert state.phase is Phase.FAILED
    assert "v1 was not started again" in state.decisions[-1].sentence
    assert world.ready == {"v1": 0, "v2": 0}


@pytest.mark.parametrize("strategy", ["recreate", "rolling", "blue-green", "canary"])
def test_instances_that_never_become_healthy_fail_without_traffic(
    world: FakeWorld, strategy: str
) -> None:
    world.broken["v2"] = "exited with code 3: no module named 'shop'"
    plan = make_plan({"strategy": strategy, "steps": [{"weight": "50%"}]})
    state, _ = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    assert state.phase is Phase.FAILED
    assert all(split.weight_of("v2") == 0 for split in world.splits)
    assert world.events == ["started", "failed"]
    assert "no module named 'shop'" in state.decisions[-1].sentence
    assert world.ready["v1"] == 3


@pytest.mark.parametrize("strategy", ["rolling", "blue-green", "canary"])
def test_failing_migrations_abort_before_any_traffic_moves(world: FakeWorld, strategy: str) -> None:
    world.migrations_fail = "0007_orders.sql: column 'total' exists"
    plan = make_plan({"strategy": strategy, "steps": [{"weight": "50%"}]})
    state, _ = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    assert state.phase is Phase.FAILED
    assert world.splits == []
    assert [a for _, a in world.actions if isinstance(a, StopInstances)] == [StopInstances("v2")]
    assert state.decisions[-1].sentence == (
        "failed: the migrations of v2 failed: 0007_orders.sql: column 'total' exists; "
        "no traffic moved to v2"
    )


def test_instances_that_hang_fail_at_the_ready_timeout(world: FakeWorld) -> None:
    world.hanging.add("v2")
    plan = make_plan({"strategy": "canary"})
    state, decisions = drive(
        plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world
    )

    assert state.phase is Phase.FAILED
    assert decisions[-1].message.startswith("failed: v2 did not become ready within 5m: 0 of 3")
    # The clock jumped to the deadline: no busy ticking while instances start.
    assert len(decisions) == 3 and (world.now - T0).total_seconds() == 301


def test_a_first_deploy_takes_all_traffic_once_smoke_tested() -> None:
    world = FakeWorld()
    plan = make_plan({"strategy": "canary", "steps": [{"weight": "10%"}, {"pause": {}}]})
    state, _ = drive(plan, RolloutState.begin(plan, stable=None, canary="v1", now=T0), world)

    assert state.phase is Phase.SUCCEEDED
    assert [split.weights for split in world.splits] == [{}, {"v1": 100}]
