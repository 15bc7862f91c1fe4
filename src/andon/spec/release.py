"""How a new version reaches customers (``release``): the strategy, its steps and the
analysis that decides, from metrics, whether to go on or to roll back."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema, model_validator

from andon.spec._base import SpecModel
from andon.spec._units import DURATION_PATTERN, Duration, Measure, Percent

STEP_KINDS = ("weight", "pause", "analysis", "header_route", "mirror", "bake")


class Strategy(StrEnum):
    """How traffic moves from the old version to the new."""

    RECREATE = "recreate"
    ROLLING = "rolling"
    BLUE_GREEN = "blue-green"
    CANARY = "canary"


class MetricProvider(StrEnum):
    """Where a metric's observations come from."""

    ROUTER = "router"
    PROMETHEUS = "prometheus"


class ThresholdSpec(SpecModel):
    """Fixed bounds an observation must stay within."""

    max: Measure | None = None
    """The highest acceptable value."""
    min: Measure | None = None
    """The lowest acceptable value."""


class BaselineSpec(SpecModel):
    """A comparison of the new version (canary) with the running one (baseline)."""

    max_increase: Percent | None = None
    """How much higher than the baseline the canary may be, e.g. ``50%``."""
    max_decrease: Percent | None = None
    """How much lower than the baseline the canary may be, e.g. ``20%`` for orders per minute."""


class MetricSpec(SpecModel):
    """One metric the immune system watches during a rollout."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["threshold"]}, {"required": ["baseline"]}]}
    )

    name: str = Field(min_length=1)
    """The metric's name, used by ``analysis`` steps and in explanations."""
    provider: MetricProvider = MetricProvider.ROUTER
    """``router``: Andon's own router (``error_rate``, ``latency_p50``, ``latency_p95``,
    ``latency_p99``, ``request_rate``); ``prometheus``: a PromQL query or a counter scraped
    from the instances' ``/metrics``."""
    query: str = Field(min_length=1)
    """What to measure: a router metric name or a PromQL expression."""
    threshold: ThresholdSpec | None = None
    """Fixed bounds."""
    baseline: BaselineSpec | None = None
    """Bounds relative to the running version."""
    interval: Duration | None = None
    """How often to observe; defaults to ``analysis.interval``."""
    min_samples: int | None = Field(default=None, ge=1)
    """Requests (or observations) needed before a verdict; defaults to ``analysis.min_samples``."""
    failure_limit: int | None = Field(default=None, ge=0)
    """Failed observations tolerated before rolling back; defaults to ``analysis.failure_limit``."""

    @model_validator(mode="after")
    def _has_a_bound(self) -> MetricSpec:
        if self.threshold is None and self.baseline is None:
            raise ValueError(
                f"metric '{self.name}' needs a threshold or a baseline comparison to judge by"
            )
        return self


class AnalysisSpec(SpecModel):
    """The immune system: metrics judged while a new version takes traffic."""

    interval: Duration = timedelta(seconds=10)
    """How often metrics are observed."""
    min_samples: int = Field(default=100, ge=1)
    """Requests needed before any verdict; fewer is inconclusive and pauses, never promotes."""
    failure_limit: int = Field(default=1, ge=0)
    """Failed observations tolerated before rolling back."""
    metrics: list[MetricSpec] = []
    """What to watch: errors, latency, and business metrics such as orders per minute."""


class PauseSpec(SpecModel):
    """Wait for a duration, or (without one) until a person promotes."""

    duration: Duration | None = None
    """How long to wait; unset waits for ``andon rollout promote``."""


_PAUSE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": DURATION_PATTERN},
        {
            "type": "object",
            "properties": {"duration": {"type": "string", "pattern": DURATION_PATTERN}},
            "additionalProperties": False,
        },
        {"type": "null"},
    ],
    "description": "Wait for a duration (1m), or until promoted ({}).",
}


class StepAnalysisSpec(SpecModel):
    """Run the analysis at this point and go on only when it passes."""

    metrics: list[str] = []
    """Names of metrics from ``release.analysis.metrics``; empty means all of them."""
    duration: Duration | None = None
    """How long to analyse; defaults to ``min_samples`` worth of traffic."""


class HeaderRouteSpec(SpecModel):
    """Send requests that carry a header to the new version, whatever the weights."""

    header: str = Field(min_length=1)
    """The header's name, e.g. ``X-Canary``."""
    value: str = Field(min_length=1)
    """The value that selects the new version."""


class StepSpec(SpecModel):
    """One step of a canary; exactly one of its keys is set."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    weight: Percent | None = None
    """Send this share of traffic to the new version."""
    pause: Annotated[PauseSpec | None, WithJsonSchema(_PAUSE_SCHEMA)] = None
    """Wait: ``pause: 1m``, or ``pause: {}`` until promoted."""
    analysis: StepAnalysisSpec | None = None
    """Analyse metrics before going on."""
    header_route: HeaderRouteSpec | None = None
    """Route requests with a header to the new version."""
    mirror: Percent | None = None
    """Copy this share of traffic to the new version; its answers are discarded."""
    bake: Duration | None = None
    """Hold the current weight this long while the analysis keeps running."""

    @model_validator(mode="before")
    @classmethod
    def _pause_shorthand(cls, data: Any) -> Any:
        # ``pause: 30s`` reads better than ``pause: {duration: 30s}``; both are accepted.
        if isinstance(data, dict) and isinstance(data.get("pause"), str):
            data = {**data, "pause": {"duration": data["pause"]}}
        if isinstance(data, dict) and "pause" in data and data["pause"] is None:
            data = {**data, "pause": {}}
        return data

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> StepSpec:
        given = [kind for kind in STEP_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"a step has exactly one of {', '.join(STEP_KINDS)}; found {found}")
        return self

    @property
    def kind(self) -> str:
        """Which of the step kinds this step is."""
        return next(kind for kind in STEP_KINDS if getattr(self, kind) is not None)


class RollingSpec(SpecModel):
    """Settings of the rolling strategy."""

    batch: int | Percent = 1
    """Instances replaced at a time: a number or a percentage of instances."""
    max_unavailable: int = Field(default=0, ge=0)
    """Instances that may be out of service at once during the rollout."""
    wait: Duration = timedelta(0)
    """Pause between batches."""


class BlueGreenSpec(SpecModel):
    """Settings of the blue-green strategy."""

    auto_promote: bool = True
    """Switch traffic as soon as green is healthy and smoke-tested; otherwise wait for a person."""
    scale_down_delay: Duration = timedelta(minutes=10)
    """How long blue stays warm after the switch, so that ``undo`` is instant."""


class ReleaseSpec(SpecModel):
    """The release policy: how each deployment's traffic moves and what is watched."""

    strategy: Strategy = Strategy.ROLLING
    """``recreate``, ``rolling``, ``blue-green`` or ``canary``."""
    steps: list[StepSpec] = []
    """The canary's steps, in order; weights must increase."""
    analysis: AnalysisSpec = AnalysisSpec()
    """The metrics judged during rollouts."""
    rolling: RollingSpec = RollingSpec()
    """Settings of the rolling strategy."""
    blue_green: BlueGreenSpec = BlueGreenSpec()
    """Settings of the blue-green strategy."""
    finalize_delay: Duration = timedelta(seconds=30)
    """How long the old version keeps running after all traffic has left it."""
