"""The rollout engine's one decision: :func:`decide_rollout` takes the plan, the state,
what the reconciler observed and the time, and returns the next state, the actions to
apply (in order) and a sentence. The reconciler observes, decides, applies the actions
through the runtime and the router, persists the state, and decides again at
``next_wakeup`` at the latest (or sooner, when something it watches changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from andon.rollout._json import time_text
from andon.rollout._ticking import Tick, when
from andon.rollout.actions import Action
from andon.rollout.analysing import judge
from andon.rollout.bluegreen import BlueGreenStrategy
from andon.rollout.canary import CanaryStrategy
from andon.rollout.commanding import apply_command, carry_out
from andon.rollout.deploying import (
    await_instances,
    await_migrations,
    await_smoke,
    begin_deploy,
    describe_deploy,
)
from andon.rollout.finishing import finalize, promote_fully
from andon.rollout.observations import Observations, OperatorCommand
from andon.rollout.phases import DEPLOYING, TERMINAL, PauseReason, Phase
from andon.rollout.plans import RolloutPlan
from andon.rollout.recreate import RecreateStrategy
from andon.rollout.reverting import settle_rollback
from andon.rollout.rolling import RollingStrategy
from andon.rollout.state import RolloutState
from andon.rollout.strategies import RolloutStrategy
from andon.spec import Strategy

_STRATEGIES: dict[Strategy, RolloutStrategy] = {
    Strategy.RECREATE: RecreateStrategy(),
    Strategy.ROLLING: RollingStrategy(),
    Strategy.BLUE_GREEN: BlueGreenStrategy(),
    Strategy.CANARY: CanaryStrategy(),
}

_MAX_MOVES = 64
"""More moves than any tick makes (every canary step at once, and the deploy steps);
a bound, so that a mistake can never loop forever inside the reconciler."""


@dataclass(frozen=True)
class Decision:
    """What one tick decided."""

    state: RolloutState
    actions: tuple[Action, ...]
    """To apply in order; each states a target, so applying them twice does no harm."""
    message: str
    """This tick's decisions in a sentence, or what the rollout waits for."""
    next_wakeup: datetime | None
    """When to decide again at the latest; None: only when something changes."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values (the state whole)."""
        return {
            "state": self.state.to_dict(),
            "actions": [action.to_dict() for action in self.actions],
            "message": self.message,
            "next_wakeup": time_text(self.next_wakeup),
        }


def strategy_for(strategy: Strategy) -> RolloutStrategy:
    """The strategy andon.yaml names."""
    return _STRATEGIES[strategy]


def decide_rollout(
    plan: RolloutPlan, state: RolloutState, observations: Observations, now: datetime
) -> Decision:
    """The next state, the actions and a sentence for the rollout ``state`` of ``plan``,
    given what was observed, at ``now``; no side effects.

    The same inputs always give the same decision: the state is the rollout's whole
    memory, so a reconciler restarted mid-rollout decides as the one that stopped.
    A failed verdict is acted on before the commands; then each command is carried
    out or refused in order; then the rollout moves on as far as it can without
    needing to observe the effect of an action it asked for.
    """
    tick = Tick(plan, state, observations, now)
    strategy = strategy_for(state.strategy)
    judge(tick)
    for command in observations.commands:
        apply_command(tick, strategy, command)
    for _ in range(_MAX_MOVES):
        if tick.must_observe or not _move(tick, strategy):
            break
    message = "; ".join(tick.sentences) or _waiting(tick, strategy)
    return Decision(tick.state, tuple(tick.actions), message, _next_wakeup(tick.state, now))


def assess_command(
    plan: RolloutPlan, state: RolloutState, command: OperatorCommand, now: datetime
) -> str | None:
    """Why ``command`` would be refused now, or None when it would be carried out; no
    side effects. The API answers a refused command at once (409) with this reason."""
    tick = Tick(plan, state, Observations(), now)
    return carry_out(tick, strategy_for(state.strategy), command)


def _move(tick: Tick, strategy: RolloutStrategy) -> bool:
    """One move from the current phase; True when the state moved."""
    state = tick.state
    if judge(tick):
        return True
    phase = state.phase
    if phase is Phase.PENDING:
        if not state.approved:
            return False
        over = f" over {state.stable}" if state.stable else " (first deploy)"
        begin_deploy(tick, strategy, f"started: {state.canary}{over} by {state.strategy.value}")
        return True
    if phase is Phase.STARTING:
        return await_instances(tick)
    if phase is Phase.MIGRATING:
        return await_migrations(tick)
    if phase is Phase.SMOKE_TESTING:
        return await_smoke(tick)
    if phase in (Phase.PROGRESSING, Phase.BAKING) or _paused_by_rollout(state):
        if state.stable is None:
            # A first deploy has no customers on an old version to protect.
            promote_fully(tick, strategy, f"promoted: first deploy of {state.canary}")
            return True
        return strategy.progress(tick)
    if phase is Phase.FINALIZING:
        return finalize(tick)
    if phase is Phase.ROLLING_BACK:
        return settle_rollback(tick)
    return False


def _paused_by_rollout(state: RolloutState) -> bool:
    # Pauses the strategy itself chose end by its own rules; the others need a person.
    return (
        state.phase is Phase.PAUSED
        and state.pause is not None
        and state.pause.reason in (PauseReason.STEP, PauseReason.AWAITING_PROMOTION)
    )


def _waiting(tick: Tick, strategy: RolloutStrategy) -> str:
    state = tick.state
    phase = state.phase
    if phase is Phase.PENDING:
        return f"waiting for approval: 'andon rollout approve' starts the rollout of {state.canary}"
    if phase in DEPLOYING:
        return describe_deploy(tick)
    if phase is Phase.PROGRESSING:
        return strategy.describe(tick)
    if phase is Phase.PAUSED and state.pause is not None:
        return state.pause.sentence
    if phase is Phase.BAKING:
        share = state.traffic.weight_of(state.canary)
        run = state.analysis
        if run is not None and state.deadline is not None and tick.now >= state.deadline:
            return (
                f"the bake of {state.canary} at {share}% is over; waiting for the verdict of "
                f"analysis run {run.run} (due by {when(run.deadline)})"
            )
        return f"baking {state.canary} at {share}% until {when(state.deadline)}"
    if phase is Phase.FINALIZING:
        return (
            f"{state.canary} serves all traffic; {state.stable} stays warm until "
            f"{when(state.deadline)}"
        )
    if phase is Phase.ROLLING_BACK:
        ready = tick.seen.stable.ready
        return (
            f"rolling back: waiting for {state.stable}: {ready} of {tick.plan.instances} "
            "instances ready before traffic returns"
        )
    last = state.last_decision
    return last.sentence if last else phase.value


def _next_wakeup(state: RolloutState, now: datetime) -> datetime | None:
    if state.phase in TERMINAL:
        return None
    times = []
    if state.phase is Phase.PAUSED:
        if state.pause is not None and state.pause.until is not None:
            times.append(state.pause.until)
    elif state.deadline is not None:
        times.append(state.deadline)
    if state.analysis is not None:
        times.append(state.analysis.deadline)
    if state.phase is Phase.PROGRESSING and state.rolling.wait_until is not None:
        times.append(state.rolling.wait_until)
    future = [at for at in times if at > now]
    return min(future, default=None)
