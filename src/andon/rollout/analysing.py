"""The immune system's place in a rollout: starting analysis runs, and acting on their
verdicts. A failed verdict (or a crashing new instance) under traffic rolls back, or
freezes when rolling back is unsafe; an inconclusive one pauses for a person and never
promotes. A passed verdict is left to the strategy, which goes on."""

from __future__ import annotations

from datetime import timedelta

from andon.rollout._ticking import Tick, lasting, plural, when
from andon.rollout.actions import StartAnalysis
from andon.rollout.observations import Outcome
from andon.rollout.phases import TRAFFIC, DecisionKind, PauseReason, Phase
from andon.rollout.reverting import freeze, may_roll_back, pause_for_person, roll_back
from andon.rollout.state import AnalysisRun


def start_analysis(
    tick: Tick,
    metrics: tuple[str, ...],
    duration: timedelta | None,
    *,
    step_index: int | None,
) -> None:
    """Start the next analysis run of ``metrics`` for ``duration``."""
    state, plan = tick.state, tick.plan
    number = state.analysis_runs + 1
    limit = duration + plan.verdict_grace if duration is not None else plan.analysis_timeout
    run = AnalysisRun(number, metrics, tick.now, tick.now + limit, duration, step_index)
    tick.update(analysis=run, analysis_runs=number)
    tick.act(StartAnalysis(number, state.canary, state.stable, metrics, duration))
    span = f" for {lasting(duration)}" if duration is not None else ""
    share = tick.state.traffic.weight_of(state.canary)
    tick.log(
        DecisionKind.ANALYSIS,
        f"analysing {', '.join(metrics)} of {state.canary} at {share}%{span} (run {number})",
        {"run": number, "metrics": list(metrics)},
    )


def judge(tick: Tick) -> bool:
    """Act on what the new version shows while it may serve customers; True when the
    rollout rolled back, froze or paused."""
    state, seen = tick.state, tick.seen
    if state.phase not in TRAFFIC:
        return False
    paused_for = state.pause.reason if state.phase is Phase.PAUSED and state.pause else None
    if paused_for is PauseReason.FROZEN:
        return False  # a person decides already; nothing new to say
    if seen.canary.failed:
        cause = f": {seen.canary.message}" if seen.canary.message else ""
        failed = plural(seen.canary.failed, "instance")
        fail(tick, f"{failed} of {state.canary} failed{cause}", {"failed": seen.canary.failed})
        return True
    run, verdict = state.analysis, tick.verdict
    if run is None:
        return False
    if verdict is None:
        if tick.now < run.deadline:
            return False
        sentence = (
            f"paused: analysis run {run.run} gave no verdict by {when(run.deadline)}; the "
            "metric source may be unreachable, and an unknown is never promoted"
        )
        pause_for_person(tick, PauseReason.INCONCLUSIVE, DecisionKind.PAUSED, sentence)
        return True
    if verdict.outcome is Outcome.FAIL:
        fail(tick, verdict.sentence, {"run": run.run, **verdict.evidence})
        return True
    if verdict.outcome is Outcome.INCONCLUSIVE:
        sentence = (
            f"paused: {verdict.sentence}; an inconclusive analysis is never promoted: "
            "'andon rollout resume' analyses again, 'promote' goes on, 'abort' rolls back"
        )
        evidence = {"run": run.run, **verdict.evidence}
        pause_for_person(tick, PauseReason.INCONCLUSIVE, DecisionKind.PAUSED, sentence, evidence)
        return True
    return False


def fail(tick: Tick, cause: str, evidence: dict[str, object]) -> None:
    """The new version is bad: roll back, or freeze when that is unsafe."""
    if may_roll_back(tick):
        roll_back(tick, Phase.ROLLED_BACK, f"rolled back: {cause}", dict(evidence))
    else:
        freeze(tick, cause, dict(evidence))


def take_pass(tick: Tick) -> bool:
    """Whether the current run passed; its verdict is logged and the run closed."""
    verdict = tick.verdict
    if verdict is None or verdict.outcome is not Outcome.PASS:
        return False
    run = tick.state.analysis
    assert run is not None
    tick.update(analysis=None)
    tick.log(
        DecisionKind.ANALYSIS,
        f"analysis run {run.run} passed: {verdict.sentence}",
        {"run": run.run, **verdict.evidence},
    )
    return True
