"""What the metric sources answered at one tick (:class:`Observed`), which sources each
metric of andon.yaml needs, and each version's cumulative sample for a metric out of it.

The providers (:mod:`andon.analysis.providers`) fill an :class:`Observed`; an analysis run
(:func:`~andon.analysis.runs.take_look`) reads it. A source that did not answer is named
in ``unreachable`` with the reason, and its part is left empty: the run then skips the
metrics that need it rather than judging half a picture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from andon.analysis.samples import LatencyHistogram, VersionSample, samples_from_snapshot
from andon.spec import MetricSpec
from andon.spec.release import ANSWERING, MetricProvider, is_counter_query

ROUTER = "router"
"""The source of the router's snapshot."""
APP = "app"
"""The source of the counters scraped from the instances' ``/metrics``."""


@dataclass(frozen=True)
class Answer:
    """A webhook's or a command's answer about one metric."""

    passed: bool
    message: str = ""


@dataclass(frozen=True)
class Observed:
    """What the metric sources returned at one tick; a part is None (or missing) when its
    source did not answer, and ``unreachable`` says why."""

    snapshot: Mapping[str, Any] | None = None
    """The router's snapshot (``{"versions": {name: {"requests": ..., "latency": ...}}}``)."""
    counters: Mapping[str, Mapping[str, float]] | None = None
    """Counters scraped from the instances' ``/metrics``, by version, then counter name."""
    queried: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Prometheus' answers by metric name, then version (``""`` without a version label)."""
    answers: Mapping[str, Answer] = field(default_factory=dict)
    """Webhooks' and commands' answers by metric name."""
    unreachable: Mapping[str, str] = field(default_factory=dict)
    """Why a source did not answer, by source (see :func:`sources_of`)."""

    def missing(self, source: str) -> str | None:
        """Why ``source`` has no answer in this observation; None when it answered."""
        if source in self.unreachable:
            return self.unreachable[source]
        if source == ROUTER:
            return None if self.snapshot is not None else "the router was not asked"
        if source == APP:
            return None if self.counters is not None else "the instances were not scraped"
        _, _, metric = source.partition(":")
        if metric in self.queried or metric in self.answers:
            return None
        return "it was not asked"


def sources_of(spec: MetricSpec) -> tuple[str, ...]:
    """The sources ``spec`` needs at a look: ``router``, ``app``, or the metric's own
    (``prometheus:orders``, ``webhook:payments``, ``command:synthetic``). A counter is
    judged per request, so it needs the router's counts beside its own source."""
    own = f"{spec.provider.value}:{spec.name}"
    if spec.provider is MetricProvider.ROUTER:
        return (ROUTER,)
    if spec.provider is MetricProvider.APP:
        return (ROUTER, APP)
    if spec.provider is MetricProvider.PROMETHEUS and is_counted(spec):
        return (ROUTER, own)
    return (own,)


def gaps(spec: MetricSpec, observed: Observed, versions: tuple[str, ...]) -> dict[str, str]:
    """The sources of ``spec`` that did not answer in ``observed``, with the reason. A
    counter missing for a version that has traffic counts as its source not answering:
    a window that lacks the counter at either end would lack it for the rest of the run."""
    found = {
        source: reason
        for source in sources_of(spec)
        if (reason := observed.missing(source)) is not None
    }
    counter = counter_of(spec)
    if found or counter is None:
        return found
    if spec.provider is MetricProvider.APP:
        counted = {version: set(values) for version, values in (observed.counters or {}).items()}
    else:
        counted = {version: {counter} for version in observed.queried.get(spec.name, {})}
    served = (observed.snapshot or {}).get("versions", {})
    lacking = [v for v in versions if v in served and counter not in counted.get(v, set())]
    if lacking:
        found[sources_of(spec)[-1]] = f"{counter} of {' and '.join(lacking)} was not found"
    return found


def is_counted(spec: MetricSpec) -> bool:
    """Whether ``spec`` is judged from per-version samples (router metrics and counters),
    rather than from a value (a PromQL expression) or an answer (webhook, command)."""
    if spec.provider in ANSWERING:
        return False
    if spec.provider is MetricProvider.PROMETHEUS:
        return is_counter_query(spec.query or "")
    return True


def cumulative_samples(
    spec: MetricSpec, observed: Observed, versions: tuple[str, ...], at: float
) -> dict[str, VersionSample]:
    """Each of ``versions``' cumulative sample for ``spec`` at ``at``: the router's counts
    and, for a counter, that counter alone (from the instances or from Prometheus). A
    version the router has not seen yet is left out. Call only when the metric's sources
    answered."""
    counters: dict[str, dict[str, float]] = {}
    counter = counter_of(spec)
    if counter is not None:
        found = (
            observed.counters or {}
            if spec.provider is MetricProvider.APP
            else {
                version: {counter: value}
                for version, value in observed.queried.get(spec.name, {}).items()
            }
        )
        counters = {
            version: {counter: float(values[counter])}
            for version, values in found.items()
            if counter in values
        }
    samples = samples_from_snapshot(observed.snapshot or {}, at, counters)
    return {version: samples[version] for version in versions if version in samples}


def counter_of(spec: MetricSpec) -> str | None:
    """The counter a business metric counts (``shop_orders_total`` out of
    ``rate(shop_orders_total[1m])``); None for the router's own metrics."""
    if spec.provider is MetricProvider.ROUTER or not is_counted(spec):
        return None
    text = (spec.query or "").strip()
    if "(" in text:
        text = text.split("(", 1)[1].split("[", 1)[0]
    return text.strip()


def empty_sample(
    version: str, at: float, since: float, like: VersionSample | None
) -> VersionSample:
    """A window of ``version`` without any request (with ``like``'s latency buckets, so
    that it compares with the other version's)."""
    bounds = like.latency.bounds if like is not None else ()
    return VersionSample(
        version=version,
        at=at,
        since=since,
        requests=0,
        errors=0,
        latency=LatencyHistogram.empty(bounds),
    )
