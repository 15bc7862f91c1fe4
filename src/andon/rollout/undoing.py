"""``andon rollout undo``: back to the last known good release. While a rollout is live
its old version still runs (warm), so undo is an abort: one switch of traffic back.
Once it succeeded, undo is a new rollout from the new version back to the old one, by
blue-green without migrations or analysis: the old version starts beside, passes its
smoke tests and takes all traffic at once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from andon.errors import ConflictError
from andon.rollout.observations import CommandKind, OperatorCommand
from andon.rollout.phases import DecisionKind, Phase
from andon.rollout.plans import RolloutPlan
from andon.rollout.state import DecisionRecord, RolloutState
from andon.spec import Strategy


@dataclass(frozen=True)
class Undo:
    """How to undo: queue ``command`` on the live rollout, or start the rollout
    ``plan``/``state``."""

    sentence: str
    command: OperatorCommand | None = None
    plan: RolloutPlan | None = None
    state: RolloutState | None = None


def plan_undo(plan: RolloutPlan, last: RolloutState, now: datetime, *, by: str = "") -> Undo:
    """How to return to the release before ``last`` (the environment's latest rollout,
    made by ``plan``); no side effects. Raises :class:`~andon.errors.ConflictError` when
    there is nothing to return to."""
    if last.stable is None:
        raise ConflictError(
            f"there is no release to undo to: {last.canary} was the first of this environment; "
            "'andon deploy' deploys another version."
        )
    if last.phase is Phase.ROLLING_BACK:
        raise ConflictError(
            f"the rollout of {last.canary} is rolling back to {last.stable} already; "
            "'andon rollout status' follows it."
        )
    if last.phase in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED):
        raise ConflictError(
            f"the rollout of {last.canary} ended {last.phase.value}, so {last.stable} serves "
            "already; there is nothing to undo."
        )
    if last.phase is not Phase.SUCCEEDED:
        return Undo(
            f"undo: {last.stable} still runs, so all traffic switches back to it now",
            command=OperatorCommand(CommandKind.ABORT, by=by, reason="undo"),
        )
    undo_plan = replace(
        plan,
        strategy=Strategy.BLUE_GREEN,
        steps=(),
        metrics=(),
        auto_promote=True,
        scale_down_delay=plan.finalize_delay,
        migrations=False,
        requires_approval=False,
        rollback_safe=True,
        warnings=(),
    )
    state = RolloutState.begin(undo_plan, stable=last.canary, canary=last.stable, now=now, by=by)
    sentence = f"undo: {last.stable} comes back beside {last.canary} and takes all traffic at once"
    notes = [DecisionRecord(now, DecisionKind.WARNING, sentence)]
    if not plan.rollback_safe:
        notes.append(
            DecisionRecord(
                now,
                DecisionKind.WARNING,
                f"the migrations of {last.canary} are not backward compatible: {last.stable} "
                "runs against the schema they left, and migrations are not undone",
            )
        )
    state = replace(state, decisions=(*state.decisions, *notes))
    return Undo(sentence, plan=undo_plan, state=state)
