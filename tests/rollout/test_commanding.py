"""What people ask of a rollout: ``assess_command`` tells the API at once why a command
would be refused, without deciding anything; a refused command only logs its refusal."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from andon.rollout import (
    CommandKind,
    DecisionKind,
    Observations,
    OperatorCommand,
    PauseReason,
    PauseState,
    Phase,
    RolloutState,
    assess_command,
    decide_rollout,
)

from .conftest import T0, make_plan

PLAN = make_plan({"strategy": "canary", "steps": [{"weight": "10%"}, {"pause": {}}]})
BASE = RolloutState.begin(PLAN, stable="v1", canary="v2", now=T0)


def _in(phase: Phase, reason: PauseReason | None = None) -> RolloutState:
    pause = None if reason is None else PauseState(reason, T0, "paused", None, Phase.PROGRESSING)
    return replace(BASE, phase=phase, pause=pause, step_index=1)


ACCEPTED = [
    (Phase.PENDING, None, CommandKind.ABORT),
    (Phase.STARTING, None, CommandKind.PAUSE),
    (Phase.PROGRESSING, None, CommandKind.PAUSE),
    (Phase.PROGRESSING, None, CommandKind.PROMOTE_FULL),
    (Phase.PAUSED, PauseReason.STEP, CommandKind.PROMOTE),
    (Phase.PAUSED, PauseReason.STEP, CommandKind.PAUSE),
    (Phase.PAUSED, PauseReason.OPERATOR, CommandKind.RESUME),
    (Phase.PAUSED, PauseReason.INCONCLUSIVE, CommandKind.RESUME),
    (Phase.PAUSED, PauseReason.FROZEN, CommandKind.PROMOTE),
    (Phase.FINALIZING, None, CommandKind.PROMOTE),
    (Phase.FINALIZING, None, CommandKind.ABORT),
    (Phase.ROLLED_BACK, None, CommandKind.RETRY),
    (Phase.FAILED, None, CommandKind.RETRY),
]
REFUSED = [
    (Phase.PENDING, None, CommandKind.APPROVE, "the environment needs no approval"),
    (Phase.PENDING, None, CommandKind.PAUSE, "has not started"),
    (Phase.MIGRATING, None, CommandKind.PROMOTE, "cannot be skipped"),
    (Phase.PROGRESSING, None, CommandKind.RESUME, "it is not paused"),
    (Phase.PROGRESSING, None, CommandKind.RETRY, "this one is progressing"),
    (Phase.PAUSED, PauseReason.STEP, CommandKind.RESUME, "waits for 'andon rollout promote'"),
    (Phase.PAUSED, PauseReason.OPERATOR, CommandKind.PAUSE, "it is paused already"),
    (Phase.FINALIZING, None, CommandKind.PROMOTE_FULL, "all traffic is on v2 already"),
    (Phase.ROLLING_BACK, None, CommandKind.ABORT, "rolling back already"),
    (Phase.SUCCEEDED, None, CommandKind.ABORT, "the rollout has succeeded already"),
    (Phase.SUCCEEDED, None, CommandKind.RETRY, "this one is succeeded"),
]


@pytest.mark.parametrize(("phase", "reason", "kind"), ACCEPTED)
def test_commands_the_phase_allows_are_accepted(
    phase: Phase, reason: PauseReason | None, kind: CommandKind
) -> None:
    assert assess_command(PLAN, _in(phase, reason), OperatorCommand(kind), T0) is None


@pytest.mark.parametrize(("phase", "reason", "kind", "why"), REFUSED)
def test_commands_the_phase_does_not_allow_are_refused_with_the_reason(
    phase: Phase, reason: PauseReason | None, kind: CommandKind, why: str
) -> None:
    refusal = assess_command(PLAN, _in(phase, reason), OperatorCommand(kind), T0)

    assert refusal is not None and why in refusal


def test_a_refused_command_changes_nothing_but_the_log() -> None:
    state = replace(_in(Phase.FINALIZING), deadline=T0 + timedelta(seconds=30))
    command = OperatorCommand(CommandKind.PROMOTE_FULL, by="ann", reason="hurry")
    decision = decide_rollout(PLAN, state, Observations(commands=(command,)), T0)

    assert decision.actions == ()
    assert replace(decision.state, decisions=state.decisions) == state
    refusal = decision.state.decisions[-1]
    assert refusal.kind is DecisionKind.REFUSED
    assert refusal.evidence == {"command": "promote_full", "by": "ann", "reason": "hurry"}
