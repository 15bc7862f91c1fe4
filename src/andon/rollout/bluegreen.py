"""Blue-green: green (the new version) starts beside blue at full size and passes its
smoke tests; then all traffic switches to it at once, by itself or when promoted. Blue
stays warm for ``scale_down_delay``, analysed in the background, so that a failure or
``undo`` in that time is one switch back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from andon.rollout._ticking import Tick
from andon.rollout.actions import EventKind
from andon.rollout.finishing import promote_fully
from andon.rollout.phases import DecisionKind, PauseReason, Phase
from andon.rollout.plans import RolloutPlan
from andon.rollout.state import PauseState


@dataclass(frozen=True)
class BlueGreenStrategy:
    """One atomic switch from blue to green."""

    def first_instances(self, plan: RolloutPlan) -> int:
        """All of them: green must carry all traffic the moment it switches."""
        return plan.instances

    def stops_stable_first(self) -> bool:
        """Never: blue serves until the switch and stays warm after it."""
        return False

    def warm_period(self, plan: RolloutPlan) -> timedelta:
        """``scale_down_delay``."""
        return plan.scale_down_delay

    def background_metrics(self, plan: RolloutPlan) -> tuple[str, ...]:
        """Every declared metric, judged against blue's recorded baseline."""
        return plan.metrics

    def progress(self, tick: Tick) -> bool:
        """Switch, or wait for a person to promote."""
        state = tick.state
        if tick.plan.auto_promote:
            _switch(tick)
            return True
        if state.phase is Phase.PAUSED:
            return False
        sentence = (
            f"{state.canary} is ready beside {state.stable}: 'andon rollout promote' "
            "switches all traffic to it"
        )
        pause = PauseState(
            PauseReason.AWAITING_PROMOTION, tick.now, sentence, None, Phase.PROGRESSING
        )
        tick.update(phase=Phase.PAUSED, pause=pause)
        tick.log(DecisionKind.PAUSED, sentence)
        tick.event(EventKind.PAUSED, sentence)
        return True

    def promote(self, tick: Tick, *, full: bool) -> str | None:
        """Switch now."""
        _switch(tick)
        return None

    def describe(self, tick: Tick) -> str:
        """Blue-green does not wait while PROGRESSING."""
        return f"switching traffic to {tick.state.canary}"


def _switch(tick: Tick) -> None:
    state = tick.state
    promote_fully(
        tick,
        BlueGreenStrategy(),
        f"promoted: all traffic switched from {state.stable} to {state.canary} at once",
    )
