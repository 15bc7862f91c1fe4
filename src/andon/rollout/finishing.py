"""The end of a good rollout: all traffic to the new version (promoted), the old one
kept warm for the strategy's delay (FINALIZING), then stopped (SUCCEEDED)."""

from __future__ import annotations

from andon.rollout._ticking import Tick, lasting, when
from andon.rollout.actions import EventKind, StopInstances
from andon.rollout.analysing import start_analysis, take_pass
from andon.rollout.phases import DecisionKind, Phase
from andon.rollout.strategies import RolloutStrategy
from andon.rollout.traffic import Traffic


def promote_fully(tick: Tick, strategy: RolloutStrategy, sentence: str) -> None:
    """Send all traffic to the new version, without routes or mirror, and finalize."""
    tick.route(Traffic.only(tick.state.canary))
    tick.update(analysis=None, pause=None, step_index=len(tick.plan.steps))
    tick.log(DecisionKind.PROMOTED, sentence)
    tick.event(EventKind.PROMOTED, sentence)
    enter_finalizing(tick, strategy)


def enter_finalizing(tick: Tick, strategy: RolloutStrategy) -> None:
    """Keep the old version warm for the strategy's delay, analysing in the background
    when the strategy does; finish at once when there is no old version or no delay.
    A recreate rollout's old version is stopped already: its delay (the bake) is all
    analysis, and a failure starts the old version again."""
    state, plan = tick.state, tick.plan
    delay = strategy.warm_period(plan)
    if state.stable is None or not delay:
        finish(tick)
        return
    tick.enter(Phase.FINALIZING, deadline=tick.now + delay)
    if state.stable_target == 0:
        tick.log(
            DecisionKind.PROGRESSED,
            f"{state.canary} bakes for {lasting(delay)}, until {when(tick.state.deadline)}",
        )
    else:
        tick.log(
            DecisionKind.PROGRESSED,
            f"{state.stable} stays warm for {lasting(delay)}, until {when(tick.state.deadline)}",
        )
    metrics = strategy.background_metrics(plan)
    if metrics:
        start_analysis(tick, metrics, delay, step_index=None)


def finalize(tick: Tick) -> bool:
    """FINALIZING: once the delay is over (and a background analysis passed), stop the
    old version."""
    state = tick.state
    if state.analysis is not None:
        if not take_pass(tick):
            return False  # a verdict is due; the analysis's deadline bounds the wait
    elif state.deadline is not None and tick.now < state.deadline:
        return False
    if tick.state.deadline is not None and tick.now < tick.state.deadline:
        return True  # the run passed early; the old version stays warm until the end
    finish(tick)
    return True


def finish(tick: Tick) -> None:
    """SUCCEEDED: the old version (if any still runs) stops."""
    state = tick.state
    sentence = f"finished: {state.canary} serves all traffic"
    if state.stable is not None and state.stable_target != 0:
        tick.act(StopInstances(state.stable))
        sentence += f"; {state.stable} stopped"
    tick.enter(
        Phase.SUCCEEDED,
        finished_at=tick.now,
        stable_target=None if state.stable is None else 0,
        analysis=None,
        pause=None,
    )
    tick.log(DecisionKind.FINISHED, sentence)
    tick.event(EventKind.FINISHED, sentence)
