"""How a new version reaches customers (``release``): the strategy, its steps and the
analysis that decides, from metrics, whether to go on or to roll back."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

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
    APP = "app"
    PROMETHEUS = "prometheus"
    WEBHOOK = "webhook"
    COMMAND = "command"


MEASURED = (MetricProvider.ROUTER, MetricProvider.APP, MetricProvider.PROMETHEUS)
"""Providers whose observations Andon judges itself, by a threshold or a baseline."""

ANSWERING = (MetricProvider.WEBHOOK, MetricProvider.COMMAND)
"""Providers that answer pass or fail themselves."""

_ROUTER_QUERY = re.compile(r"^(?:error_rate|request_rate|latency_p[0-9]{1,2}(?:\.[0-9]+)?)$")
_COUNTER_QUERY = re.compile(
    r"^(?:(?:rate|increase|irate)\(\s*)?[a-zA-Z_:][a-zA-Z0-9_:]*(?:\[[0-9a-z]+\]\s*\))?$"
)
"""The queries andon.analysis can judge (its ``Metric.from_query`` reads the same forms):
the router's own metrics, and a counter (optionally inside ``rate``), judged per request."""


def is_router_query(query: str) -> bool:
    """Whether ``query`` names one of the router's metrics (``error_rate``,
    ``request_rate``, ``latency_p95``)."""
    return bool(_ROUTER_QUERY.match(query.strip()))


def is_counter_query(query: str) -> bool:
    """Whether ``query`` names a counter, bare or in ``rate(..[1m])``, and not a router
    metric: ``shop_orders_total``, ``rate(shop_orders_total[1m])``."""
    text = query.strip()
    return bool(_COUNTER_QUERY.match(text)) and not is_router_query(text)


class ThresholdSpec(SpecModel):
    """Fixed bounds an observation must stay within."""

    max: Measure | None = None
    """The highest acceptable value."""
    min: Measure | None = None
    """The lowest acceptable value."""


class BaselineSpec(SpecModel):
    """A comparison of the new version (canary) with the running one (baseline)."""

    max_increase: Percent | None = None
    """How much higher than the baseline the canary may be, e.g. ``50%``; a latency is
    worse only when it is also more than 25 ms above the baseline's."""
    max_decrease: Percent | None = None
    """How much lower than the baseline the canary may be, e.g. ``20%`` for orders per minute."""


_IN_RATE = "such as shop_orders_total or rate(shop_orders_total[1m])"

_METRIC_SCHEMA: dict[str, Any] = {
    "allOf": [
        {
            "if": {
                "required": ["provider"],
                "properties": {"provider": {"enum": ["webhook", "command"]}},
            },
            "then": {
                "not": {
                    "anyOf": [
                        {"required": ["query"]},
                        {"required": ["threshold"]},
                        {"required": ["baseline"]},
                    ]
                }
            },
            "else": {
                "required": ["query"],
                "anyOf": [{"required": ["threshold"]}, {"required": ["baseline"]}],
            },
        },
        {
            "if": {"required": ["provider"], "properties": {"provider": {"const": "webhook"}}},
            "then": {"required": ["url"]},
        },
        {
            "if": {"required": ["provider"], "properties": {"provider": {"const": "command"}}},
            "then": {"required": ["command"]},
        },
    ]
}
"""What the loader's validators say about which keys go with which provider, as far as a
JSON Schema can say it (it cannot read queries)."""


class MetricSpec(SpecModel):
    """One metric the immune system watches during a rollout."""

    model_config = ConfigDict(json_schema_extra=_METRIC_SCHEMA)

    name: str = Field(min_length=1)
    """The metric's name, used by ``analysis`` steps and in explanations."""
    provider: MetricProvider = MetricProvider.ROUTER
    """``router``: Andon's own router (``error_rate``, ``latency_p50``, ``latency_p95``,
    ``latency_p99``, ``request_rate``); ``app``: a counter summed over each version's
    instances' ``/metrics`` and judged per request (``shop_orders_total`` or
    ``rate(shop_orders_total[1m])``); ``prometheus``: a query to a Prometheus server (a
    counter as for ``app``, split by its ``version`` label, or any PromQL expression held
    to a threshold); ``webhook``: an HTTP endpoint that answers pass or fail; ``command``: a
    command whose exit status is pass (0) or fail."""
    query: str = Field(default="", min_length=1)
    """What to measure, required by ``router``, ``app`` and ``prometheus``: a router
    metric name, a counter, or a PromQL expression."""
    url: str | None = Field(default=None, min_length=1)
    """``webhook``: the endpoint Andon POSTs ``{canary, stable, metric, run}`` to, which
    answers ``{"pass": true|false, "message": "..."}``; ``prometheus``: the server's base
    URL (defaults to the ``ANDON_PROMETHEUS_URL`` environment variable)."""
    command: str | None = Field(default=None, min_length=1)
    """``command``: a shell command run with ``ANDON_CANARY``, ``ANDON_STABLE``,
    ``ANDON_METRIC`` and ``ANDON_RUN`` set; exit status 0 passes, any other fails."""
    timeout: Duration | None = None
    """``webhook`` and ``command``: how long to wait for an answer (10s and 30s); no answer
    counts as an unreachable source, never as a pass."""
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

    # Each check below reads the keys validated before it (``info.data``), so that its
    # message sits on the key that is wrong rather than on the whole metric.

    @field_validator("query")
    @classmethod
    def _query_fits_provider(cls, query: str, info: ValidationInfo) -> str:
        provider = info.data.get("provider")
        if provider is None:
            return query
        if provider in ANSWERING:
            raise ValueError(
                f"provider {provider} answers pass or fail by itself and takes no query; remove it"
            )
        if provider is MetricProvider.ROUTER and not is_router_query(query):
            hint = (
                "; for a counter that the instances expose, use provider: app"
                if is_counter_query(query)
                else ""
            )
            raise ValueError(
                "the router measures error_rate, request_rate and latency_p50, latency_p95 "
                f"or latency_p99, not {query!r}{hint}"
            )
        latency = re.match(r"^latency_p([0-9]{1,2}(?:\.[0-9]+)?)$", query.strip())
        if latency is not None and float(latency.group(1)) == 0:
            raise ValueError(
                f"{query.strip()!r} is not a quantile; use latency_p50 to latency_p99.9"
            )
        if provider is not MetricProvider.ROUTER and is_router_query(query):
            raise ValueError(f"{query!r} is measured by the router; use provider: router")
        if provider is MetricProvider.APP and not is_counter_query(query):
            raise ValueError(
                f"provider app reads a counter from the instances' /metrics, {_IN_RATE}, "
                f"not {query!r}; for other PromQL use provider: prometheus"
            )
        return query

    @field_validator("url")
    @classmethod
    def _url_fits_provider(cls, url: str | None, info: ValidationInfo) -> str | None:
        provider = info.data.get("provider")
        if url is None or provider is None:
            return url
        if provider not in (MetricProvider.PROMETHEUS, MetricProvider.WEBHOOK):
            raise ValueError(
                f"provider {provider} has no url; only prometheus and webhook read one"
            )
        if not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
        return url

    @field_validator("command")
    @classmethod
    def _command_fits_provider(cls, command: str | None, info: ValidationInfo) -> str | None:
        provider = info.data.get("provider")
        if command is not None and provider is not None and provider is not MetricProvider.COMMAND:
            raise ValueError(
                f"provider {provider} runs no command; set provider: command to judge by one"
            )
        return command

    @field_validator("timeout")
    @classmethod
    def _timeout_fits_provider(
        cls, timeout: timedelta | None, info: ValidationInfo
    ) -> timedelta | None:
        provider = info.data.get("provider")
        if timeout is not None and provider is not None and provider not in ANSWERING:
            raise ValueError(
                f"provider {provider} has no timeout; only webhook and command wait for an answer"
            )
        if timeout is not None and timeout <= timedelta(0):
            raise ValueError("a timeout must be longer than 0s")
        return timeout

    @field_validator("threshold")
    @classmethod
    def _threshold_fits_provider(
        cls, threshold: ThresholdSpec | None, info: ValidationInfo
    ) -> ThresholdSpec | None:
        provider = info.data.get("provider")
        if threshold is not None and provider in ANSWERING:
            raise ValueError(
                f"provider {provider} answers pass or fail by itself; remove the threshold"
            )
        return threshold

    @field_validator("baseline")
    @classmethod
    def _baseline_can_be_compared(
        cls, baseline: BaselineSpec | None, info: ValidationInfo
    ) -> BaselineSpec | None:
        provider, query = info.data.get("provider"), info.data.get("query")
        if baseline is None or provider is None:
            return baseline
        if provider in ANSWERING:
            raise ValueError(
                f"provider {provider} answers pass or fail by itself; remove the baseline"
            )
        if not query:
            return baseline
        if query.strip() == "request_rate":
            raise ValueError(
                "request_rate cannot be compared with the baseline, because each version's "
                "rate follows its traffic weight; give it a threshold instead"
            )
        counter = is_counter_query(query)
        if provider is MetricProvider.PROMETHEUS and not counter:
            raise ValueError(
                f"only a counter ({_IN_RATE}) is compared with the baseline, per request; "
                f"hold the PromQL expression {query!r} to a threshold instead"
            )
        if counter and baseline.max_increase is not None:
            raise ValueError(
                "a counter per request is compared for a decrease; use max_decrease "
                "(max_increase is not judged)"
            )
        if not counter and baseline.max_decrease is not None:
            raise ValueError(
                f"{query.strip()} is compared for an increase; use max_increase "
                "(max_decrease is not judged)"
            )
        return baseline

    @model_validator(mode="after")
    def _has_what_it_needs(self) -> MetricSpec:
        missing = []
        if self.provider in MEASURED:
            if not self.query:
                missing.append(f"metric '{self.name}' needs a query: what to measure")
            if self.threshold is None and self.baseline is None:
                missing.append(
                    f"metric '{self.name}' needs a threshold or a baseline comparison to judge by"
                )
        if self.provider is MetricProvider.WEBHOOK and self.url is None:
            missing.append(f"metric '{self.name}' needs the url of the webhook to ask")
        if self.provider is MetricProvider.COMMAND and self.command is None:
            missing.append(f"metric '{self.name}' needs the command to run")
        if missing:
            raise ValueError("; ".join(missing))
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
    bake: Duration = timedelta(0)
    """Recreate and rolling: how long the analysis goes on once all traffic is on the new
    version, comparing it with the previous release's recorded baseline; a failure
    starts the old version again and rolls back. Off (``0s``) unless set."""
