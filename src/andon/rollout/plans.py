"""What a rollout is to do, derived once from andon.yaml's ``release`` section and the
number of instances the environment runs: :func:`plan_rollout` makes the
:class:`RolloutPlan` every later decision reads.

The reconciler plans a rollout when a deploy is asked for, keeps the plan's
:meth:`RolloutPlan.to_dict` beside the rollout's state (a new andon.yaml must not change
a rollout under way), and shows :func:`assess_plan`'s warnings before it starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from andon.errors import UsageError
from andon.rollout._json import mapping, read_seconds, seconds
from andon.spec import MigrationsSpec, ReleaseSpec, StepSpec, Strategy

SMOKE_HEADER = "X-Andon-Version"
"""The header whose value (the new version) routes smoke tests to the new version only."""


class StepKind(StrEnum):
    """What one canary step does."""

    WEIGHT = "weight"
    PAUSE = "pause"
    ANALYSIS = "analysis"
    HEADER_ROUTE = "header_route"
    MIRROR = "mirror"
    BAKE = "bake"


@dataclass(frozen=True)
class CanaryStep:
    """One canary step, flattened from andon.yaml's ``steps``."""

    kind: StepKind
    percent: float | None = None
    """The share of a ``weight`` or ``mirror`` step, in percent."""
    duration: timedelta | None = None
    """How long a ``pause``, ``analysis`` or ``bake`` lasts; None: until promoted
    (pause) or as long as the analysis needs (analysis)."""
    metrics: tuple[str, ...] = ()
    """The metrics an ``analysis`` step judges; empty: every declared metric."""
    header: str | None = None
    value: str | None = None
    """The header and value a ``header_route`` step routes to the new version."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; :meth:`from_dict` reads them back."""
        return {
            "kind": self.kind.value,
            "percent": self.percent,
            "duration": seconds(self.duration),
            "metrics": list(self.metrics),
            "header": self.header,
            "value": self.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CanaryStep:
        """A step from :meth:`to_dict`'s values."""
        percent = data.get("percent")
        return cls(
            kind=StepKind(data["kind"]),
            percent=None if percent is None else float(percent),
            duration=read_seconds(data.get("duration")),
            metrics=tuple(data.get("metrics", ())),
            header=data.get("header"),
            value=data.get("value"),
        )


@dataclass(frozen=True)
class RolloutPlan:
    """Everything the deciders read of andon.yaml for one rollout."""

    strategy: Strategy
    instances: int
    """Instances of the process the new version runs (and the old one ran)."""
    steps: tuple[CanaryStep, ...] = ()
    metrics: tuple[str, ...] = ()
    """Every metric declared under ``release.analysis.metrics``."""
    batch: int = 1
    """Rolling: instances replaced at a time (a percentage is resolved to a count)."""
    max_unavailable: int = 0
    """Rolling: old instances that may stop before their replacements are ready."""
    batch_wait: timedelta = timedelta(0)
    """Rolling: the wait between batches."""
    auto_promote: bool = True
    """Blue-green: switch as soon as green passed its smoke tests."""
    scale_down_delay: timedelta = timedelta(minutes=10)
    """Blue-green: how long blue stays warm after the switch."""
    finalize_delay: timedelta = timedelta(seconds=30)
    """How long the old version keeps running once all traffic has left it."""
    bake: timedelta = timedelta(0)
    """Recreate, rolling: how long the analysis goes on after the last switch."""
    migrations: bool = True
    """Whether andon.yaml declares migrations to run."""
    smoke: bool = True
    """Whether andon.yaml declares smoke tests to run."""
    rollback_safe: bool = True
    """False when the migrations are not backward compatible: a failed analysis then
    freezes the rollout for a person instead of rolling back."""
    requires_approval: bool = False
    """A protected environment: the rollout waits for ``approve`` before it starts."""
    smoke_header: str = SMOKE_HEADER
    ready_timeout: timedelta = timedelta(minutes=5)
    """How long new instances may take to become ready."""
    migration_timeout: timedelta = timedelta(minutes=6)
    smoke_timeout: timedelta = timedelta(minutes=5)
    analysis_timeout: timedelta = timedelta(minutes=15)
    """How long an analysis without a duration may go without a verdict."""
    verdict_grace: timedelta = timedelta(minutes=1)
    """How late after its duration an analysis's verdict may arrive."""
    warnings: tuple[str, ...] = field(default=())
    """What people should know before it starts (see :func:`assess_plan`)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; :meth:`from_dict` reads them back."""
        return {
            "strategy": self.strategy.value,
            "instances": self.instances,
            "steps": [step.to_dict() for step in self.steps],
            "metrics": list(self.metrics),
            "batch": self.batch,
            "max_unavailable": self.max_unavailable,
            "batch_wait": seconds(self.batch_wait),
            "auto_promote": self.auto_promote,
            "scale_down_delay": seconds(self.scale_down_delay),
            "finalize_delay": seconds(self.finalize_delay),
            "bake": seconds(self.bake),
            "migrations": self.migrations,
            "smoke": self.smoke,
            "rollback_safe": self.rollback_safe,
            "requires_approval": self.requires_approval,
            "smoke_header": self.smoke_header,
            "ready_timeout": seconds(self.ready_timeout),
            "migration_timeout": seconds(self.migration_timeout),
            "smoke_timeout": seconds(self.smoke_timeout),
            "analysis_timeout": seconds(self.analysis_timeout),
            "verdict_grace": seconds(self.verdict_grace),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutPlan:
        """A plan from :meth:`to_dict`'s values; missing keys take their defaults."""
        data = mapping(data)
        durations = (
            "batch_wait",
            "scale_down_delay",
            "finalize_delay",
            "bake",
            "ready_timeout",
            "migration_timeout",
            "smoke_timeout",
            "analysis_timeout",
            "verdict_grace",
        )
        flags = ("auto_promote", "migrations", "smoke", "rollback_safe", "requires_approval")
        values: dict[str, Any] = {
            "strategy": Strategy(data["strategy"]),
            "instances": int(data["instances"]),
            "steps": tuple(CanaryStep.from_dict(step) for step in data.get("steps", ())),
            "metrics": tuple(data.get("metrics", ())),
            "warnings": tuple(data.get("warnings", ())),
        }
        values |= {name: read_seconds(data[name]) for name in durations if name in data}
        values |= {name: bool(data[name]) for name in flags if name in data}
        values |= {name: int(data[name]) for name in ("batch", "max_unavailable") if name in data}
        if "smoke_header" in data:
            values["smoke_header"] = str(data["smoke_header"])
        return cls(**values)


def plan_rollout(
    release: ReleaseSpec,
    *,
    instances: int,
    strategy: Strategy | None = None,
    migrations: MigrationsSpec | None = None,
    breaking: Sequence[str] = (),
    smoke: bool = True,
    requires_approval: bool = False,
) -> RolloutPlan:
    """The plan of a rollout of ``instances`` instances by ``release``; no side effects.

    ``strategy`` overrides the release's (the environment's ``strategy``, ``deploy
    --strategy``). ``migrations`` is andon.yaml's ``database.migrations`` (None: none);
    ``breaking`` names the migrations this rollout brings that the old version cannot
    run against: they force the recreate strategy, as andon.yaml documents. Raises
    :class:`~andon.errors.UsageError` for a rollout of no instances.
    """
    if instances < 1:
        raise UsageError(
            f"a rollout needs at least one instance, got {instances}; raise the process's "
            "'instances' in andon.yaml."
        )
    chosen = strategy or release.strategy
    if breaking:
        chosen = Strategy.RECREATE
    batch = release.rolling.batch
    count = batch if isinstance(batch, int) else math.ceil(instances * batch / 100)
    plan = RolloutPlan(
        strategy=chosen,
        instances=instances,
        steps=tuple(_step(step) for step in release.steps),
        metrics=tuple(metric.name for metric in release.analysis.metrics),
        batch=min(instances, max(1, count)),
        max_unavailable=release.rolling.max_unavailable,
        batch_wait=release.rolling.wait,
        auto_promote=release.blue_green.auto_promote,
        scale_down_delay=release.blue_green.scale_down_delay,
        finalize_delay=release.finalize_delay,
        bake=release.bake,
        migrations=migrations is not None,
        smoke=smoke,
        rollback_safe=migrations is None or (migrations.compatible and not breaking),
        requires_approval=requires_approval,
        migration_timeout=(migrations.timeout if migrations else timedelta(0))
        + timedelta(minutes=1),
    )
    return _with_warnings(plan, breaking)


def assess_plan(plan: RolloutPlan) -> tuple[str, ...]:
    """What people should be told before the rollout starts; no side effects."""
    warnings = []
    if not plan.rollback_safe:
        warnings.append(
            "rollback by traffic switch is unsafe: the migrations are not backward "
            "compatible, so a failed analysis will pause for a person instead of rolling back"
        )
    analysed = [step for step in plan.steps if step.kind is StepKind.ANALYSIS]
    if plan.strategy is Strategy.CANARY and analysed and not plan.metrics:
        warnings.append(
            "the canary has analysis steps but release.analysis declares no metrics; "
            "each analysis step will pause for a person"
        )
    if plan.strategy is Strategy.CANARY and not plan.steps:
        warnings.append("the canary has no steps: it goes to 100% once its smoke tests pass")
    return tuple(warnings)


def _with_warnings(plan: RolloutPlan, breaking: Sequence[str]) -> RolloutPlan:
    warnings = list(assess_plan(plan))
    if breaking:
        warnings.insert(
            0,
            f"migrations {', '.join(breaking)} are breaking: the old version is stopped "
            "before the new one starts (recreate)",
        )
    return replace(plan, warnings=tuple(warnings))


def _step(step: StepSpec) -> CanaryStep:
    kind = StepKind(step.kind)
    if step.weight is not None:
        return CanaryStep(kind, percent=step.weight)
    if step.mirror is not None:
        return CanaryStep(kind, percent=step.mirror)
    if step.pause is not None:
        return CanaryStep(kind, duration=step.pause.duration)
    if step.analysis is not None:
        return CanaryStep(
            kind, duration=step.analysis.duration, metrics=tuple(step.analysis.metrics)
        )
    if step.header_route is not None:
        return CanaryStep(kind, header=step.header_route.header, value=step.header_route.value)
    return CanaryStep(kind, duration=step.bake)
