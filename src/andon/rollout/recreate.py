"""Recreate: the old version stops, then the new one starts, migrates and passes its
smoke tests, then takes all traffic. Requests fail in between (downtime is expected);
it is the strategy for migrations the old version cannot run beside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from andon.rollout._ticking import Tick
from andon.rollout.finishing import promote_fully
from andon.rollout.plans import RolloutPlan


@dataclass(frozen=True)
class RecreateStrategy:
    """Stop everything, start everything."""

    def first_instances(self, plan: RolloutPlan) -> int:
        """All of them."""
        return plan.instances

    def stops_stable_first(self) -> bool:
        """Always: that is the strategy."""
        return True

    def warm_period(self, plan: RolloutPlan) -> timedelta:
        """None: the old version is stopped already."""
        return timedelta(0)

    def background_metrics(self, plan: RolloutPlan) -> tuple[str, ...]:
        """None."""
        return ()

    def progress(self, tick: Tick) -> bool:
        """All traffic to the new version."""
        promote_fully(tick, self, f"promoted: {tick.state.canary} takes all traffic")
        return True

    def promote(self, tick: Tick, *, full: bool) -> str | None:
        """Nothing to skip."""
        return "a recreate rollout has no step to skip"

    def describe(self, tick: Tick) -> str:
        """Recreate does not wait while PROGRESSING."""
        return f"switching traffic to {tick.state.canary}"
