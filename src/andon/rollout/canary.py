"""Canary: the new version takes traffic step by step (``weight``, ``header_route``,
``mirror``), waits (``pause``), is judged (``analysis``) and held while judged (``bake``);
after the last step it takes all traffic and the old version stays warm for
``finalize_delay``.

Routes and mirror stay until the new version takes all traffic. Instantaneous steps
follow one another within one tick, so that the router gets one split per tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from andon.rollout._ticking import Tick, lasting, when
from andon.rollout.actions import EventKind
from andon.rollout.analysing import start_analysis, take_pass
from andon.rollout.finishing import promote_fully
from andon.rollout.phases import DecisionKind, PauseReason, Phase
from andon.rollout.plans import CanaryStep, RolloutPlan, StepKind
from andon.rollout.reverting import pause_for_person
from andon.rollout.state import PauseState
from andon.rollout.traffic import HeaderRoute, Mirror, Traffic

_WAITING = (StepKind.PAUSE, StepKind.ANALYSIS, StepKind.BAKE)


@dataclass(frozen=True)
class CanaryStrategy:
    """Steps of andon.yaml's ``release.steps``, in order."""

    def first_instances(self, plan: RolloutPlan) -> int:
        """All of them: the canary can take all traffic the moment it is promoted."""
        return plan.instances

    def stops_stable_first(self) -> bool:
        """Never: the old version serves while the canary is judged."""
        return False

    def warm_period(self, plan: RolloutPlan) -> timedelta:
        """``finalize_delay``."""
        return plan.finalize_delay

    def background_metrics(self, plan: RolloutPlan) -> tuple[str, ...]:
        """None: the canary's judging happens in its steps (``analysis``, ``bake``)."""
        return ()

    def progress(self, tick: Tick) -> bool:
        """Carry out the current step."""
        state, plan = tick.state, tick.plan
        if state.step_index >= len(plan.steps):
            promote_fully(tick, self, f"promoted: {state.canary} takes all traffic")
            return True
        step = plan.steps[state.step_index]
        if step.kind is StepKind.PAUSE:
            return _pause(tick, step)
        if step.kind is StepKind.ANALYSIS:
            return _analyse(tick, step)
        if step.kind is StepKind.BAKE:
            return _bake(tick, step)
        _route(tick, step)
        return True

    def promote(self, tick: Tick, *, full: bool) -> str | None:
        """Skip the pause, analysis or bake under way; ``full``: all traffic now."""
        state, plan = tick.state, tick.plan
        if full:
            first, last = state.step_index + 1, len(plan.steps)
            skipped = {0: "", 1: f", skipping step {last}"}.get(
                last - first + 1, f", skipping steps {first} to {last}"
            )
            promote_fully(tick, self, f"promoted: {state.canary} takes all traffic now{skipped}")
            return None
        if state.step_index >= len(plan.steps):
            return "the canary has no step left to skip"
        step = plan.steps[state.step_index]
        if step.kind not in _WAITING:
            return f"step {_label(tick)} ({step.kind.value}) does not wait"
        _next(tick, f"step {_label(tick)} ({step.kind.value}) skipped")
        return None

    def describe(self, tick: Tick) -> str:
        """The step under way."""
        state = tick.state
        share = state.traffic.weight_of(state.canary)
        run = state.analysis
        if run is not None:
            return (
                f"{state.canary} at {share}%: waiting for analysis run {run.run} of "
                f"{', '.join(run.metrics)} (verdict due by {when(run.deadline)})"
            )
        return f"{state.canary} at {share}%: step {_label(tick)}"


def _route(tick: Tick, step: CanaryStep) -> None:
    state = tick.state
    traffic = state.traffic
    if step.kind is StepKind.WEIGHT:
        assert step.percent is not None
        split = Traffic.split(state.stable, state.canary, step.percent)
        traffic = Traffic(split.weights, traffic.header_routes, traffic.mirror)
        sentence = f"{split.weight_of(state.canary)}% of traffic to {state.canary}"
    elif step.kind is StepKind.HEADER_ROUTE:
        assert step.header is not None and step.value is not None
        route = HeaderRoute(step.header, step.value, state.canary)
        traffic = Traffic(traffic.weights, (*traffic.header_routes, route), traffic.mirror)
        sentence = f"requests with {step.header}: {step.value} to {state.canary}"
    else:
        assert step.percent is not None
        traffic = Traffic(
            traffic.weights, traffic.header_routes, Mirror(state.canary, step.percent)
        )
        sentence = f"a copy of {step.percent:g}% of requests to {state.canary}"
    tick.route(traffic)
    _next(tick, f"step {_label(tick)}: {sentence}")


def _pause(tick: Tick, step: CanaryStep) -> bool:
    state = tick.state
    started = state.step_started_at or tick.now
    until = None if step.duration is None else started + step.duration
    if until is not None and tick.now >= until:
        _next(tick, f"step {_label(tick)}: pause of {lasting(until - started)} over")
        return True
    if state.phase is Phase.PAUSED:
        return False
    if until is None:
        sentence = f"step {_label(tick)}: paused until promoted ('andon rollout promote')"
    else:
        sentence = (
            f"step {_label(tick)}: paused for {lasting(until - started)}, until {when(until)}"
        )
    pause = PauseState(PauseReason.STEP, tick.now, sentence, until, Phase.PROGRESSING)
    tick.update(phase=Phase.PAUSED, pause=pause)
    tick.log(DecisionKind.PAUSED, sentence)
    if until is None:
        tick.event(EventKind.PAUSED, sentence)
    return True


def _analyse(tick: Tick, step: CanaryStep) -> bool:
    state = tick.state
    run = state.analysis
    if run is None or run.step_index != state.step_index:
        metrics = step.metrics or tick.plan.metrics
        if not metrics:
            sentence = (
                f"paused: analysis step {_label(tick)} has no metrics to judge "
                "(release.analysis.metrics is empty), and an unjudged canary is never promoted"
            )
            pause_for_person(tick, PauseReason.INCONCLUSIVE, DecisionKind.PAUSED, sentence)
            return True
        start_analysis(tick, metrics, step.duration, step_index=state.step_index)
        return True
    if take_pass(tick):
        _next(tick)  # the pass is logged with its evidence
        return True
    return False


def _bake(tick: Tick, step: CanaryStep) -> bool:
    state = tick.state
    assert step.duration is not None
    started = state.step_started_at or tick.now
    end = started + step.duration
    moved = False
    if state.phase is not Phase.BAKING:
        tick.enter(Phase.BAKING, deadline=end)
        share = state.traffic.weight_of(state.canary)
        tick.log(
            DecisionKind.PROGRESSED,
            f"step {_label(tick)}: baking at {share}% for {lasting(step.duration)}",
        )
        moved = True
    elif state.deadline != end:
        tick.update(deadline=end)  # the bake started again (resumed after a verdict)
        moved = True
    run = tick.state.analysis
    if tick.now < end:
        if tick.plan.metrics and (run is None or run.step_index != state.step_index):
            start_analysis(tick, tick.plan.metrics, end - tick.now, step_index=state.step_index)
            return True
        return moved
    if run is not None and run.step_index == state.step_index and not take_pass(tick):
        return moved  # the bake is over; its verdict is due
    _next(tick, f"step {_label(tick)}: bake over")
    return True


def _next(tick: Tick, sentence: str | None = None) -> None:
    tick.enter(
        Phase.PROGRESSING,
        step_index=tick.state.step_index + 1,
        step_started_at=tick.now,
        analysis=None,
        pause=None,
    )
    if sentence is not None:
        tick.log(DecisionKind.PROGRESSED, sentence)


def _label(tick: Tick) -> str:
    return f"{tick.state.step_index + 1}/{len(tick.plan.steps)}"
