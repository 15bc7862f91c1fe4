"""The plug-in point of the rollout engine: how one strategy moves traffic once the new
version passed its deploy steps. One module per strategy (``recreate``, ``rolling``,
``bluegreen``, ``canary``); ``strategy_for`` in ``deciding`` picks one by andon.yaml's name.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from andon.rollout._ticking import Tick
from andon.rollout.plans import RolloutPlan


class RolloutStrategy(Protocol):
    """What differs between strategies; the deploy steps, operator commands, rollback
    and finalizing are shared (``deploying``, ``commanding``, ``reverting``,
    ``finishing``)."""

    def first_instances(self, plan: RolloutPlan) -> int:
        """How many new instances the deploy steps start."""
        ...

    def stops_stable_first(self) -> bool:
        """Whether the old version stops before the new one starts (recreate)."""
        ...

    def warm_period(self, plan: RolloutPlan) -> timedelta:
        """How long the old version stays warm once all traffic left it."""
        ...

    def background_metrics(self, plan: RolloutPlan) -> tuple[str, ...]:
        """Metrics analysed during the warm period; a failure there switches back."""
        ...

    def progress(self, tick: Tick) -> bool:
        """Move traffic on (PROGRESSING, BAKING, or PAUSED at a step); True when the
        state moved and deciding should go on in this tick."""
        ...

    def promote(self, tick: Tick, *, full: bool) -> str | None:
        """Skip the current pause or step (``full``: go to 100% now); the reason it
        cannot, or None once done."""
        ...

    def describe(self, tick: Tick) -> str:
        """What the rollout waits for, while PROGRESSING."""
        ...
