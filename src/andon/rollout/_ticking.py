"""One tick of deciding, as it is built up: the state as it changes, the actions asked
for, and the sentences logged. A :class:`Tick` lives inside one call of
``decide_rollout`` and changes nothing outside it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from andon.rollout.actions import (
    Action,
    EventKind,
    RecordEvent,
    SetTraffic,
    StartInstances,
    StopInstances,
)
from andon.rollout.observations import Observations, Verdict
from andon.rollout.phases import DecisionKind, Phase
from andon.rollout.plans import RolloutPlan
from andon.rollout.state import DecisionRecord, RolloutState
from andon.rollout.traffic import Traffic
from andon.spec import format_duration


class Tick:
    """The decision being made at ``now``."""

    def __init__(
        self, plan: RolloutPlan, state: RolloutState, seen: Observations, now: datetime
    ) -> None:
        self.plan = plan
        self.state = state
        self.seen = seen
        self.now = now
        self.actions: list[Action] = []
        self.sentences: list[str] = []
        self._applied = state.traffic
        """The split the router had before this tick."""
        self.must_observe = False
        """Set once an instance action is asked for: the observations predate it, so
        deciding stops for this tick rather than read them as its outcome."""

    def update(self, **changes: Any) -> None:
        """Change fields of the state."""
        self.state = replace(self.state, **changes)

    def enter(self, phase: Phase, *, deadline: datetime | None = None, **changes: Any) -> None:
        """Move to ``phase`` now, with its deadline (if any)."""
        self.update(phase=phase, phase_started_at=self.now, deadline=deadline, **changes)

    def act(self, *actions: Action) -> None:
        """Ask for ``actions``, after those asked for already."""
        self.actions.extend(actions)
        if any(isinstance(action, StartInstances | StopInstances) for action in actions):
            self.must_observe = True

    def route(self, traffic: Traffic) -> None:
        """Ask the router for ``traffic`` unless it has it already."""
        if traffic == self.state.traffic:
            return
        if self.actions and isinstance(self.actions[-1], SetTraffic):
            # Splits asked for one after the other (canary steps that take no time) are
            # one split: the earlier would live for no time at all.
            self.actions.pop()
        if traffic != self._in_effect():
            self.act(SetTraffic(traffic))
        self.update(traffic=traffic)

    def _in_effect(self) -> Traffic:
        """The split the router will have once the actions asked for so far are applied."""
        for action in reversed(self.actions):
            if isinstance(action, SetTraffic):
                return action.traffic
        return self._applied

    def log(
        self, kind: DecisionKind, sentence: str, evidence: dict[str, Any] | None = None
    ) -> None:
        """Record a decision in the rollout's log and in this tick's message."""
        record = DecisionRecord(self.now, kind, sentence, dict(evidence or {}))
        self.update(decisions=(*self.state.decisions, record))
        self.sentences.append(sentence)

    def event(self, kind: EventKind, sentence: str) -> None:
        """Store a deployment event of the new version."""
        self.act(RecordEvent(kind, self.state.canary, sentence))

    @property
    def verdict(self) -> Verdict | None:
        """The verdict of the current analysis run, if it has one."""
        run, verdict = self.state.analysis, self.seen.verdict
        if run is None or verdict is None or verdict.run != run.run:
            return None
        return verdict


def when(at: datetime | None) -> str:
    """A time for sentences, to the second."""
    return "never" if at is None else at.isoformat(timespec="seconds")


def lasting(duration: timedelta) -> str:
    """A duration for sentences, as andon.yaml writes it (``1m30s``)."""
    return format_duration(duration)


def plural(count: int, noun: str) -> str:
    """``1 instance``, ``3 instances``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
