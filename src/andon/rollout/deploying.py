"""The deploy steps every strategy runs before customer traffic moves: start the new
version's instances (recreate stops the old ones first), run the migrations once, smoke
test the new version through a header route only it answers. Any failure ends the
rollout (FAILED) with no traffic moved to the new version."""

from __future__ import annotations

from andon.rollout._ticking import Tick, lasting, plural
from andon.rollout.actions import (
    EventKind,
    RunMigrations,
    RunSmokeTests,
    StartInstances,
    StopInstances,
)
from andon.rollout.observations import CheckResult
from andon.rollout.phases import DecisionKind, Phase
from andon.rollout.reverting import roll_back
from andon.rollout.state import RollingProgress
from andon.rollout.strategies import RolloutStrategy
from andon.rollout.traffic import HeaderRoute, Traffic


def begin_deploy(tick: Tick, strategy: RolloutStrategy, sentence: str) -> None:
    """STARTING: start the new version's first instances."""
    state, plan = tick.state, tick.plan
    count = strategy.first_instances(plan) if state.stable is not None else plan.instances
    changes: dict[str, object] = {"rolling": RollingProgress(target=count)}
    if state.stable is not None and strategy.stops_stable_first():
        # Recreate: the old version stops before the new one starts; downtime is expected.
        tick.act(StopInstances(state.stable))
        changes["stable_target"] = 0
        sentence += f"; {state.stable} stopped first (downtime expected)"
    tick.act(StartInstances(state.canary, count))
    tick.enter(Phase.STARTING, deadline=tick.now + plan.ready_timeout, **changes)
    tick.log(DecisionKind.PROGRESSED, f"{sentence}; starting {plural(count, 'instance')}")
    tick.event(EventKind.STARTED, sentence)


def await_instances(tick: Tick) -> bool:
    """STARTING: on to the migrations once the new instances are ready."""
    state, seen = tick.state, tick.seen.canary
    wanted = _started(tick)
    if seen.failed:
        cause = f": {seen.message}" if seen.message else ""
        _fail(tick, f"{plural(seen.failed, 'instance')} of {state.canary} failed to start{cause}")
        return True
    if seen.ready >= wanted:
        tick.log(DecisionKind.PROGRESSED, f"{state.canary} is ready: {seen.ready} of {wanted}")
        if tick.plan.migrations:
            tick.act(RunMigrations(state.canary, state.attempt))
            tick.enter(Phase.MIGRATING, deadline=tick.now + tick.plan.migration_timeout)
        else:
            _begin_smoke(tick)
        return True
    if state.deadline is not None and tick.now >= state.deadline:
        cause = f"; {seen.message}" if seen.message else ""
        _fail(
            tick,
            f"{state.canary} did not become ready within {lasting(tick.plan.ready_timeout)}: "
            f"{seen.ready} of {wanted} ready{cause}",
        )
        return True
    return False


def await_migrations(tick: Tick) -> bool:
    """MIGRATING: on to the smoke tests once the migrations ran."""
    result = _result(tick, tick.seen.migrations)
    if result is not None and not result.passed:
        _fail(tick, f"the migrations of {tick.state.canary} failed: {result.message}")
        return True
    if result is not None:
        tick.update(migrated=True)
        detail = f": {result.message}" if result.message else ""
        tick.log(DecisionKind.PROGRESSED, f"migrations of {tick.state.canary} ran{detail}")
        _begin_smoke(tick)
        return True
    return _timed_out(tick, "the migrations")


def await_smoke(tick: Tick) -> bool:
    """SMOKE_TESTING: on to the traffic steps once the smoke tests passed."""
    result = _result(tick, tick.seen.smoke)
    if result is not None and not result.passed:
        _fail(tick, f"the smoke tests of {tick.state.canary} failed: {result.message}")
        return True
    if result is not None:
        detail = f": {result.message}" if result.message else ""
        tick.log(DecisionKind.PROGRESSED, f"smoke tests of {tick.state.canary} passed{detail}")
        _begin_traffic(tick)
        return True
    return _timed_out(tick, "the smoke tests")


def describe_deploy(tick: Tick) -> str:
    """What a deploy step waits for."""
    state = tick.state
    if state.phase is Phase.STARTING:
        return (
            f"waiting for {state.canary}: {tick.seen.canary.ready} of {_started(tick)} "
            "instances ready"
        )
    if state.phase is Phase.MIGRATING:
        return f"waiting for the migrations of {state.canary}"
    return f"waiting for the smoke tests of {state.canary}"


def _begin_smoke(tick: Tick) -> None:
    state, plan = tick.state, tick.plan
    if not plan.smoke:
        tick.log(DecisionKind.PROGRESSED, "andon.yaml declares no smoke tests")
        _begin_traffic(tick)
        return
    route = HeaderRoute(plan.smoke_header, state.canary, state.canary)
    routes = (*state.traffic.header_routes, route)
    # The route reaches the new version only with the header: customers never see it.
    tick.route(Traffic(state.traffic.weights, routes, state.traffic.mirror))
    tick.act(RunSmokeTests(state.canary, plan.smoke_header, state.canary, state.attempt))
    tick.enter(Phase.SMOKE_TESTING, deadline=tick.now + plan.smoke_timeout)


def _begin_traffic(tick: Tick) -> None:
    tick.enter(Phase.PROGRESSING, step_index=0, step_started_at=tick.now)


def _started(tick: Tick) -> int:
    state = tick.state
    return state.rolling.target or tick.plan.instances


def _result(tick: Tick, result: CheckResult | None) -> CheckResult | None:
    # A result of an earlier attempt (before a retry) says nothing about this one.
    if result is None or result.attempt != tick.state.attempt:
        return None
    return result


def _timed_out(tick: Tick, what: str) -> bool:
    state = tick.state
    if state.deadline is None or tick.now < state.deadline:
        return False
    span = lasting(state.deadline - (state.phase_started_at or state.deadline))
    _fail(tick, f"{what} of {state.canary} did not finish within {span}")
    return True


def _fail(tick: Tick, cause: str) -> None:
    roll_back(tick, Phase.FAILED, f"failed: {cause}; no traffic moved to {tick.state.canary}")
