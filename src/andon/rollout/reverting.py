"""Going back: returning all traffic to the old version and stopping the new one, or,
when rolling back is unsafe, freezing for a person. Called by the deploy steps (a
failure), the analysis (a failed verdict, a crashing new instance) and ``abort``.
"""

from __future__ import annotations

from typing import Any

from andon.rollout._ticking import Tick, plural, when
from andon.rollout.actions import EventKind, StartInstances, StopInstances
from andon.rollout.phases import DecisionKind, PauseReason, Phase
from andon.rollout.state import PauseState
from andon.rollout.traffic import Traffic

_ENDINGS = {
    Phase.ROLLED_BACK: (DecisionKind.ROLLED_BACK, EventKind.ROLLED_BACK),
    Phase.ABORTED: (DecisionKind.ABORTED, EventKind.ABORTED),
    Phase.FAILED: (DecisionKind.FAILED, EventKind.FAILED),
}


def may_roll_back(tick: Tick) -> bool:
    """Whether the old version can take traffic again: always, unless this attempt ran
    migrations that it cannot run against."""
    return tick.state.rollback_safe or not tick.state.migrated


def roll_back(
    tick: Tick,
    ending: Phase,
    sentence: str,
    evidence: dict[str, Any] | None = None,
    *,
    by_hand: bool = False,
) -> None:
    """Return all traffic to the old version, then stop the new one, ending in ``ending``
    (ROLLED_BACK, ABORTED or FAILED). When the rollout had stopped old instances
    (recreate, rolling) they start again first (ROLLING_BACK), unless the migrations
    make that unsafe and no person asked for it: then the rollout fails and says so."""
    state = tick.state
    tick.update(analysis=None, pause=None)
    if state.stable is None or state.stable_target is None:
        _return_traffic(tick, ending, sentence, evidence)
        return
    if not by_hand and not may_roll_back(tick):
        tick.act(StopInstances(state.canary))
        sentence = (
            f"{sentence}; {state.stable} was not started again because the migrations of "
            f"{state.canary} are not backward compatible: a person must decide what runs"
        )
        _end(tick, Phase.FAILED, sentence, evidence)
        return
    count = tick.plan.instances
    tick.act(StartInstances(state.stable, count))
    tick.enter(
        Phase.ROLLING_BACK,
        deadline=tick.now + tick.plan.ready_timeout,
        ending=ending,
        ending_sentence=sentence,
    )
    tick.log(
        DecisionKind.ROLLING_BACK,
        f"{sentence}; starting {plural(count, 'instance')} of {state.stable} again "
        "before traffic returns to it",
        evidence,
    )


def settle_rollback(tick: Tick) -> bool:
    """ROLLING_BACK: once the old version is ready again, traffic returns to it."""
    state, seen = tick.state, tick.seen.stable
    assert state.stable is not None
    ending = state.ending or Phase.ROLLED_BACK
    count = tick.plan.instances
    if seen.ready >= count:
        tick.update(stable_target=None)
        _return_traffic(tick, ending, state.ending_sentence, {"stable_ready": seen.ready})
        return True
    if seen.failed or (state.deadline is not None and tick.now >= state.deadline):
        cause = f": {seen.message}" if seen.message else ""
        sentence = (
            f"{state.ending_sentence}; but {state.stable} did not come back ({seen.ready} of "
            f"{count} ready by {when(tick.now)}{cause}): a person must bring it back"
        )
        _end(
            tick, Phase.FAILED, sentence, {"stable_ready": seen.ready, "stable_failed": seen.failed}
        )
        return True
    return False


def freeze(tick: Tick, cause: str, evidence: dict[str, Any] | None = None) -> None:
    """Hold traffic where it is and call for a person: the analysis failed, but the old
    version cannot run against the migrated schema ("freeze, don't roll back")."""
    state = tick.state
    sentence = (
        f"frozen, not rolled back: {cause}; the migrations of {state.canary} are not "
        f"backward compatible, so returning traffic to {state.stable} is unsafe: "
        "'andon rollout promote' goes on, 'andon rollout abort' rolls back anyway"
    )
    pause_for_person(tick, PauseReason.FROZEN, DecisionKind.FROZEN, sentence, evidence)


def pause_for_person(
    tick: Tick,
    reason: PauseReason,
    kind: DecisionKind,
    sentence: str,
    evidence: dict[str, Any] | None = None,
) -> None:
    """PAUSED until a person acts; ``resume`` returns to the phase it was paused in."""
    state = tick.state
    resume_phase = state.pause.resume_phase if state.pause else state.phase
    pause = PauseState(reason, tick.now, sentence, resume_phase=resume_phase)
    # The deadline of the interrupted phase is kept for when it resumes.
    tick.update(phase=Phase.PAUSED, pause=pause, analysis=None)
    tick.log(kind, sentence, evidence)
    tick.event(EventKind.PAUSED, sentence)


def _return_traffic(
    tick: Tick, ending: Phase, sentence: str, evidence: dict[str, Any] | None
) -> None:
    state = tick.state
    # Traffic first: once the router sends nothing to the new version, stopping its
    # instances cannot fail a request.
    tick.route(Traffic.only(state.stable))
    tick.act(StopInstances(state.canary))
    _end(tick, ending, sentence, evidence)


def _end(tick: Tick, ending: Phase, sentence: str, evidence: dict[str, Any] | None) -> None:
    kind, event = _ENDINGS[ending]
    tick.enter(
        ending,
        finished_at=tick.now,
        ending=None,
        ending_sentence="",
        analysis=None,
        pause=None,
    )
    tick.log(kind, sentence, evidence)
    tick.event(event, sentence)
