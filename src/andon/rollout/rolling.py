"""Rolling: the old version's instances are replaced a batch at a time. A batch's new
instances start (up to ``max_unavailable`` old ones may stop before they are ready);
once they are ready the router's weights follow the ready instance counts and the old
instances they replace stop; then the rollout waits ``wait`` before the next batch."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import timedelta

from andon.rollout._ticking import Tick, lasting, when
from andon.rollout.actions import StartInstances, StopInstances
from andon.rollout.analysing import fail
from andon.rollout.finishing import promote_fully
from andon.rollout.phases import DecisionKind, Phase
from andon.rollout.plans import RolloutPlan
from andon.rollout.state import RollingProgress
from andon.rollout.traffic import Traffic


@dataclass(frozen=True)
class RollingStrategy:
    """Batch by batch, with the weights following the instances."""

    def first_instances(self, plan: RolloutPlan) -> int:
        """The first batch, started beside the old instances."""
        return plan.batch

    def stops_stable_first(self) -> bool:
        """Never all at once: batch by batch."""
        return False

    def warm_period(self, plan: RolloutPlan) -> timedelta:
        """The ``bake``, when there are metrics to judge in it: the last batch's old
        instances stay warm meanwhile (the others stopped as they were replaced)."""
        return plan.bake if plan.metrics else timedelta(0)

    def background_metrics(self, plan: RolloutPlan) -> tuple[str, ...]:
        """Every declared metric, judged against the old version's recorded baseline."""
        return plan.metrics

    def progress(self, tick: Tick) -> bool:
        """Finish the batch under way, or start the next once the wait is over."""
        progress = tick.state.rolling
        if progress.target > progress.replaced:
            return _finish_batch(tick)
        if progress.wait_until is not None and tick.now < progress.wait_until:
            return False
        _start_batch(tick)
        return True

    def promote(self, tick: Tick, *, full: bool) -> str | None:
        """Skip the wait between batches; ``full``: replace all the rest at once."""
        state, plan = tick.state, tick.plan
        progress = state.rolling
        if full:
            tick.update(rolling=replace(progress, full=True, wait_until=None))
            if progress.target > progress.replaced:
                tick.act(StartInstances(state.canary, plan.instances))
                tick.update(rolling=replace(tick.state.rolling, target=plan.instances))
            tick.log(DecisionKind.PROGRESSED, "the remaining instances are replaced at once")
            return None
        if progress.target > progress.replaced:
            return (
                "a batch is starting, with no wait to skip ('andon rollout promote --full' "
                "replaces all remaining instances at once)"
            )
        if progress.wait_until is None or tick.now >= progress.wait_until:
            return "there is no wait to skip"
        tick.update(rolling=replace(progress, wait_until=None))
        tick.log(DecisionKind.PROGRESSED, "the wait before the next batch skipped")
        return None

    def describe(self, tick: Tick) -> str:
        """The batch under way, or the wait."""
        state, plan = tick.state, tick.plan
        progress = state.rolling
        done = f"{progress.replaced} of {plan.instances} replaced"
        if progress.target > progress.replaced:
            ready = tick.seen.canary.ready
            return (
                f"waiting for {state.canary}: {ready} of {progress.target} instances ready ({done})"
            )
        return f"{done}; next batch at {when(progress.wait_until)}"


def _start_batch(tick: Tick) -> None:
    state, plan = tick.state, tick.plan
    progress = state.rolling
    size = plan.instances - progress.replaced if progress.full else plan.batch
    target = min(plan.instances, progress.replaced + size)
    old = _old_running(tick)
    # Old instances that may be out of service stop now, so that the batch needs no
    # room beside them; their share of traffic goes to those left.
    early = min(plan.max_unavailable, target - progress.replaced, old)
    if early:
        _shift(tick, progress.replaced, old - early)
        tick.act(StopInstances(_stable(tick), old - early))
        tick.update(stable_target=old - early)
    tick.act(StartInstances(state.canary, target))
    tick.update(rolling=RollingProgress(progress.replaced, target, None, progress.full))
    tick.enter(Phase.PROGRESSING, deadline=tick.now + plan.ready_timeout)
    tick.log(
        DecisionKind.PROGRESSED,
        f"batch {_batch_number(tick)}: starting {_which(progress.replaced + 1, target)} of "
        f"{plan.instances} of {state.canary}",
    )


def _finish_batch(tick: Tick) -> bool:
    state, plan, seen = tick.state, tick.plan, tick.seen.canary
    progress = state.rolling
    if seen.ready < progress.target:
        if state.deadline is not None and tick.now >= state.deadline:
            cause = f"; {seen.message}" if seen.message else ""
            fail(
                tick,
                f"{state.canary} did not become ready within {lasting(plan.ready_timeout)}: "
                f"{seen.ready} of {progress.target} ready{cause}",
                {"ready": seen.ready, "target": progress.target},
            )
            return True
        return False
    replaced = progress.target
    if replaced >= plan.instances:
        # The last batch: all traffic moves, then the last old instances stop (finishing).
        tick.log(
            DecisionKind.PROGRESSED,
            f"batch {_batch_number(tick)}: all {plan.instances} instances replaced",
            {"replaced": replaced, "ready": seen.ready},
        )
        promote_fully(tick, RollingStrategy(), f"promoted: {state.canary} takes all traffic")
        return True
    keep = plan.instances - replaced
    _shift(tick, replaced, keep)
    if keep < _old_running(tick):
        tick.act(StopInstances(_stable(tick), keep))
        tick.update(stable_target=keep)
    share = tick.state.traffic.weight_of(state.canary)
    tick.log(
        DecisionKind.PROGRESSED,
        f"batch {_batch_number(tick)}: {replaced} of {plan.instances} instances replaced; "
        f"{share}% of traffic to {state.canary}",
        {"replaced": replaced, "ready": seen.ready},
    )
    wait = plan.batch_wait
    wait_until = tick.now + wait if wait > timedelta(0) else None
    tick.update(rolling=RollingProgress(replaced, replaced, wait_until, progress.full))
    tick.enter(Phase.PROGRESSING)
    if wait_until is not None:
        tick.log(DecisionKind.PROGRESSED, f"next batch in {lasting(wait)}, at {when(wait_until)}")
    return True


def _shift(tick: Tick, new: int, old: int) -> None:
    """Weights in proportion to the instances in service of each version."""
    state = tick.state
    if new + old == 0:
        return  # nothing serves either way; the split stays as it was
    split = Traffic.split(state.stable, state.canary, 100 * new / (new + old))
    tick.route(Traffic(split.weights, state.traffic.header_routes, state.traffic.mirror))


def _old_running(tick: Tick) -> int:
    target = tick.state.stable_target
    return tick.plan.instances if target is None else target


def _stable(tick: Tick) -> str:
    stable = tick.state.stable
    assert stable is not None  # a first deploy starts all instances at once
    return stable


def _batch_number(tick: Tick) -> str:
    plan, progress = tick.plan, tick.state.rolling
    return f"{math.ceil(progress.target / plan.batch)}/{math.ceil(plan.instances / plan.batch)}"


def _which(first: int, last: int) -> str:
    return f"instance {first}" if first == last else f"instances {first} to {last}"
