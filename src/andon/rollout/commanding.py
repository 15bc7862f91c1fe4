"""What people ask of a rollout (``andon rollout approve|promote|pause|resume|abort|retry``),
carried out when the phase allows it, refused with the reason otherwise. A refused
command changes nothing but the log."""

from __future__ import annotations

from andon.rollout._ticking import Tick, when
from andon.rollout.actions import EventKind
from andon.rollout.deploying import begin_deploy
from andon.rollout.finishing import enter_finalizing, finish
from andon.rollout.observations import CommandKind, OperatorCommand
from andon.rollout.phases import (
    DEPLOYING,
    RETRYABLE,
    TERMINAL,
    DecisionKind,
    PauseReason,
    Phase,
    words,
)
from andon.rollout.reverting import may_roll_back, roll_back
from andon.rollout.state import PauseState, RollingProgress
from andon.rollout.strategies import RolloutStrategy

_NEEDS_A_PERSON = (PauseReason.OPERATOR, PauseReason.INCONCLUSIVE, PauseReason.FROZEN)


def apply_command(tick: Tick, strategy: RolloutStrategy, command: OperatorCommand) -> str | None:
    """Carry out ``command``; the reason it was refused (and logged), or None."""
    before = (tick.state, len(tick.actions), len(tick.sentences), tick.must_observe)
    refusal = carry_out(tick, strategy, command)
    if refusal is not None:
        # Whatever a refused command began is undone: only the refusal is logged.
        tick.state, actions, sentences, tick.must_observe = before
        del tick.actions[actions:], tick.sentences[sentences:]
        tick.log(
            DecisionKind.REFUSED,
            f"{_verb(command)}{_who(command)} refused: {refusal}",
            _evidence(command),
        )
    return refusal


def carry_out(tick: Tick, strategy: RolloutStrategy, command: OperatorCommand) -> str | None:
    """Carry out ``command`` without logging a refusal; the reason it cannot be, or None."""
    phase = tick.state.phase
    if command.kind is not CommandKind.RETRY and phase in TERMINAL:
        return f"the rollout has {words(phase)} already"
    if command.kind not in (CommandKind.RETRY, CommandKind.APPROVE) and phase is Phase.ROLLING_BACK:
        return "the rollout is rolling back already"
    handlers = {
        CommandKind.APPROVE: _approve,
        CommandKind.PAUSE: _pause,
        CommandKind.RESUME: _resume,
        CommandKind.PROMOTE: _promote,
        CommandKind.PROMOTE_FULL: _promote,
        CommandKind.ABORT: _abort,
        CommandKind.RETRY: _retry,
    }
    return handlers[command.kind](tick, strategy, command)


def _approve(tick: Tick, strategy: RolloutStrategy, command: OperatorCommand) -> str | None:
    state = tick.state
    if state.phase is not Phase.PENDING:
        return "the rollout has started already"
    if state.approved:
        return (
            "the rollout is approved already"
            if tick.plan.requires_approval
            else ("the environment needs no approval")
        )
    tick.update(approved=True)
    tick.log(DecisionKind.APPROVED, f"approved{_who(command)}", _evidence(command))
    return None


def _pause(tick: Tick, strategy: RolloutStrategy, command: OperatorCommand) -> str | None:
    state = tick.state
    if state.phase is Phase.PENDING:
        return "the rollout has not started; 'andon rollout abort' cancels it"
    resume_phase = state.phase
    if state.phase is Phase.PAUSED:
        assert state.pause is not None
        if state.pause.reason is PauseReason.AWAITING_PROMOTION:
            return "it waits for 'andon rollout promote' already"
        if state.pause.reason is not PauseReason.STEP:
            return "it is paused already"
        resume_phase = Phase.PROGRESSING  # the pause step is looked at again on resume
    sentence = f"paused{_who(command)}: 'andon rollout resume' goes on"
    pause = PauseState(PauseReason.OPERATOR, tick.now, sentence, None, resume_phase)
    # The analysis under way keeps running: a failure still rolls back while paused.
    tick.update(phase=Phase.PAUSED, pause=pause)
    tick.log(DecisionKind.PAUSED, sentence, _evidence(command))
    tick.event(EventKind.PAUSED, sentence)
    return None


def _resume(tick: Tick, strategy: RolloutStrategy, command: OperatorCommand) -> str | None:
    state, pause = tick.state, tick.state.pause
    if state.phase is not Phase.PAUSED or pause is None:
        return "it is not paused"
    if pause.reason is PauseReason.AWAITING_PROMOTION:
        return "blue-green waits for 'andon rollout promote' to switch traffic"
    if pause.reason is PauseReason.STEP:
        if pause.until is not None:
            return f"the pause step ends by itself at {when(pause.until)}; 'promote' skips it"
        return "this pause step waits for 'andon rollout promote'"
    if pause.reason is PauseReason.OPERATOR:
        tick.update(phase=pause.resume_phase, pause=None)
        tick.log(DecisionKind.RESUMED, f"resumed{_who(command)}", _evidence(command))
        return None
    # After a verdict that needed a person, resuming judges again: the step (analysis,
    # bake) or the warm period starts over with a new analysis run.
    tick.log(DecisionKind.RESUMED, f"resumed{_who(command)}: analysing again", _evidence(command))
    if pause.resume_phase is Phase.FINALIZING:
        tick.update(pause=None)
        enter_finalizing(tick, strategy)
    else:
        tick.enter(pause.resume_phase, step_started_at=tick.now, pause=None, analysis=None)
    return None


def _promote(tick: Tick, strategy: RolloutStrategy, command: OperatorCommand) -> str | None:
    state, pause = tick.state, tick.state.pause
    full = command.kind is CommandKind.PROMOTE_FULL
    by_person = (
        state.phase is Phase.PAUSED and pause is not None and pause.reason in _NEEDS_A_PERSON
    )
    # A rollout paused by a person during its deploy steps resumes into them.
    phase = pause.resume_phase if by_person and pause is not None else state.phase
    if phase is Phase.PENDING or phase in DEPLOYING:
        return (
            "the deploy steps (start, migrate, smoke test) cannot be skipped; promote once "
            "traffic moves"
        )
    note = ""
    if by_person and pause is not None:
        if pause.reason is not PauseReason.OPERATOR:
            note = f" past a {pause.reason.value} analysis"
        tick.update(phase=pause.resume_phase, pause=None)
    done = "promoted fully" if full else "promoted"
    tick.log(DecisionKind.PROMOTED, f"{done}{_who(command)}{note}", _evidence(command))
    if tick.state.phase is Phase.FINALIZING:
        if full:
            return f"all traffic is on {state.canary} already; 'promote' stops {state.stable} now"
        finish(tick)
        return None
    return strategy.promote(tick, full=full)


def _abort(tick: Tick, strategy: RolloutStrategy, command: OperatorCommand) -> str | None:
    state = tick.state
    if state.phase is Phase.PENDING:
        sentence = f"aborted{_who(command)} before it started"
        tick.enter(Phase.ABORTED, finished_at=tick.now)
        tick.log(DecisionKind.ABORTED, sentence, _evidence(command))
        tick.event(EventKind.ABORTED, sentence)
        return None
    if state.stable is None:
        sentence = f"aborted{_who(command)}: {state.canary} stopped"
    else:
        sentence = f"aborted{_who(command)}: all traffic back to {state.stable}"
        if not may_roll_back(tick):
            sentence += f", although the migrations of {state.canary} are not backward compatible"
    roll_back(tick, Phase.ABORTED, sentence, _evidence(command), by_hand=True)
    return None


def _retry(tick: Tick, strategy: RolloutStrategy, command: OperatorCommand) -> str | None:
    state = tick.state
    if state.phase not in RETRYABLE:
        return (
            "retry starts again a rollout that was rolled back, aborted or failed; this one "
            f"is {words(state.phase)}"
        )
    attempt = state.attempt + 1
    tick.update(
        attempt=attempt,
        step_index=0,
        step_started_at=None,
        analysis=None,
        pause=None,
        rolling=RollingProgress(),
        migrated=False,
        finished_at=None,
        ending=None,
        ending_sentence="",
    )
    tick.log(DecisionKind.RETRIED, f"retried{_who(command)}: attempt {attempt}", _evidence(command))
    over = f" over {state.stable}" if state.stable else ""
    begin_deploy(tick, strategy, f"started: {state.canary}{over} by {state.strategy.value} again")
    return None


def _verb(command: OperatorCommand) -> str:
    return "promote --full" if command.kind is CommandKind.PROMOTE_FULL else command.kind.value


def _who(command: OperatorCommand) -> str:
    who = f" by {command.by}" if command.by else ""
    return who + (f" ({command.reason})" if command.reason else "")


def _evidence(command: OperatorCommand) -> dict[str, object]:
    evidence: dict[str, object] = {"command": command.kind.value}
    if command.by:
        evidence["by"] = command.by
    if command.reason:
        evidence["reason"] = command.reason
    return evidence
