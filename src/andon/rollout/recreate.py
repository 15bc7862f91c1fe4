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
        """The ``bake``, when there are metrics to judge in it; the old version is
        stopped already, so a failure starts it again."""
        return plan.bake if plan.metrics else timedelta(0)

    def background_metrics(self, plan: RolloutPlan) -> tuple[str, ...]:
        """Every declared metric, judged against the old version's recorded baseline."""
        return plan.metrics

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
