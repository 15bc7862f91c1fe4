"""Whole canary rollouts of the example shop's release, tick by tick with a fake clock:
to success, rolled back by a failed analysis, paused by an inconclusive one, and frozen
when the migrations make rolling back unsafe."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from andon.rollout import (
    Observations,
    Outcome,
    PauseReason,
    Phase,
    RolloutState,
    SetTraffic,
    StartAnalysis,
    StopInstances,
    Verdict,
    decide_rollout,
)

from .conftest import T0, FakeWorld, drive, make_plan

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop" / "andon.yaml"
FAILED = "canary error rate 4.1% vs stable 0.2% over 1,830 requests (p < 0.001)"


@pytest.fixture(scope="module")
def release() -> dict[str, Any]:
    """The example shop's ``release`` section, as andon.yaml writes it."""
    return dict(YAML(typ="safe").load(SHOP)["release"])


def failing_run(
    number: int, outcome: Outcome = Outcome.FAIL, sentence: str = FAILED
) -> Callable[[StartAnalysis], Verdict]:
    """A judge whose run ``number`` ends with ``outcome``; the others pass."""

    def judge(run: StartAnalysis) -> Verdict:
        if run.run == number:
            return Verdict(run.run, outcome, sentence, {"p": 0.0004})
        return Verdict(run.run, Outcome.PASS, "within bounds")

    return judge


def test_canary_goes_through_the_shop_steps_to_success(
    release: dict[str, Any], world: FakeWorld
) -> None:
    plan = make_plan(release)
    state, _ = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    assert state.phase is Phase.SUCCEEDED
    # The mirror step and the weight step after it reach the router as one split.
    assert [split.weight_of("v2") for split in world.splits] == [0, 10, 25, 50, 100]
    assert world.splits[3].mirror is not None and world.splits[3].mirror.percent == 50
    assert world.splits[-1].header_routes == () and world.splits[-1].mirror is None
    assert world.events == ["started", "promoted", "finished"]
    assert world.ready == {"v1": 0, "v2": 3}
    # The old version stops only after finalize_delay with all traffic on the new one.
    promoted = next(
        at
        for at, a in world.actions
        if isinstance(a, SetTraffic) and a.traffic.weight_of("v2") == 100
    )
    stopped = next(at for at, a in world.actions if isinstance(a, StopInstances))
    assert (stopped - promoted).total_seconds() >= 30


def test_canary_rolls_back_when_error_rate_breaches(
    release: dict[str, Any], world: FakeWorld
) -> None:
    world.judge = failing_run(2)
    plan = make_plan(release)
    state, decisions = drive(
        plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world
    )

    assert state.phase is Phase.ROLLED_BACK
    assert decisions[-1].message == f"rolled back: {FAILED}"
    assert state.decisions[-1].evidence == {"run": 2, "p": 0.0004}
    last = [action for _, action in world.actions][-3:]
    # Traffic returns to the stable version before the canary's instances stop.
    assert isinstance(last[0], SetTraffic) and last[0].traffic.weights == {"v1": 100}
    assert last[1] == StopInstances("v2")
    assert world.events == ["started", "rolled_back"]


def test_inconclusive_analysis_pauses_and_resume_analyses_again(
    release: dict[str, Any], world: FakeWorld
) -> None:
    world.judge = failing_run(1, Outcome.INCONCLUSIVE, "only 40 requests of the 200 needed")
    plan = make_plan(release)
    begun = RolloutState.begin(plan, stable="v1", canary="v2", now=T0)
    state, _ = drive(plan, begun, world, until=lambda s: s.phase is Phase.PAUSED)

    assert state.pause is not None and state.pause.reason is PauseReason.INCONCLUSIVE
    assert state.traffic.weight_of("v2") == 10  # never promoted on an unknown
    world.command_when(lambda s: True, "resume")
    state, _ = drive(plan, state, world)

    assert state.phase is Phase.SUCCEEDED
    assert state.analysis_runs == 4  # run 1 inconclusive, run 2 its repeat, then two more


def test_failed_analysis_freezes_when_rollback_is_unsafe(
    release: dict[str, Any], world: FakeWorld
) -> None:
    world.judge = failing_run(1)
    plan = make_plan(release, migrations={"command": "migrate", "compatible": False})
    begun = RolloutState.begin(plan, stable="v1", canary="v2", now=T0)

    assert "rollback by traffic switch is unsafe" in begun.decisions[1].sentence
    state, decisions = drive(plan, begun, world, until=lambda s: s.phase is Phase.PAUSED)

    assert state.pause is not None and state.pause.reason is PauseReason.FROZEN
    assert decisions[-1].message.startswith(f"frozen, not rolled back: {FAILED}")
    assert world.traffic.weight_of("v2") == 10 and world.ready["v2"] == 3
    # Nothing moves by itself while frozen, however long: a person decides.
    later = decide_rollout(plan, state, world.observe(state), world.now + timedelta(hours=1))
    assert later.actions == () and later.state == state and later.next_wakeup is None
    world.command_when(lambda s: True, "abort:the schema change is fine for v1")
    state, decisions = drive(plan, state, world)

    assert state.phase is Phase.ABORTED
    assert "although the migrations of v2 are not backward compatible" in decisions[0].message
    assert world.traffic.weights == {"v1": 100}


def test_promote_full_skips_the_remaining_steps(release: dict[str, Any], world: FakeWorld) -> None:
    world.command_when(lambda s: s.traffic.weight_of("v2") == 10, "promote_full")
    plan = make_plan(release)
    state, _ = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    assert state.phase is Phase.SUCCEEDED
    assert [split.weight_of("v2") for split in world.splits] == [0, 10, 100]


def test_a_crashing_canary_rolls_back_without_waiting_for_analysis(
    release: dict[str, Any], world: FakeWorld
) -> None:
    world.crashing["v2"] = "exited with code 1: KeyError 'basket'"
    plan = make_plan(release)
    state, _ = drive(plan, RolloutState.begin(plan, stable="v1", canary="v2", now=T0), world)

    assert state.phase is Phase.ROLLED_BACK
    assert state.decisions[-1].sentence == (
        "rolled back: 1 instance of v2 failed: exited with code 1: KeyError 'basket'"
    )


def test_splits_that_live_for_no_time_reach_the_router_as_one() -> None:
    steps = [{"weight": "10%"}, {"weight": "20%"}, {"pause": {}}]
    plan = make_plan({"strategy": "canary", "steps": steps})
    state = RolloutState.begin(plan, stable="v1", canary="v2", now=T0)
    smoke = {"attempt": 1, "passed": True}
    smoking = {**state.to_dict(), "phase": "smoke_testing", "deadline": None}
    decision = decide_rollout(
        plan,
        RolloutState.from_dict(smoking),
        Observations.from_dict({"smoke": smoke, "canary": {"ready": 3}}),
        T0,
    )

    splits = [action for action in decision.actions if isinstance(action, SetTraffic)]
    assert [split.traffic.weights for split in splits] == [{"v1": 80, "v2": 20}]
