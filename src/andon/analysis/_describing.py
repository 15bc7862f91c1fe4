"""What the comparing judges put in front of their sentences and evidence: each version's
value of the metric, shown in the metric's own unit."""

from __future__ import annotations

from collections.abc import Callable

from andon.analysis import _formatting as fmt
from andon.analysis.metrics import Metric, MetricKind
from andon.analysis.samples import VersionSample
from andon.analysis.verdicts import Scalar

FORMATS: dict[MetricKind, Callable[[float], str]] = {
    MetricKind.ERROR_RATE: fmt.percent,
    MetricKind.LATENCY: fmt.seconds,
    MetricKind.REQUEST_RATE: fmt.per_second,
    MetricKind.BUSINESS: fmt.number,
}
"""How a value of each kind of metric is shown."""


def observed(metric: Metric, canary: VersionSample, stable: VersionSample) -> dict[str, Scalar]:
    """Each version's value (``canary_value``, ``stable_value``; None when unknown) and the
    counts behind it."""
    if metric.kind is MetricKind.ERROR_RATE:
        return {
            "canary_errors": canary.errors,
            "stable_errors": stable.errors,
            "canary_value": _per_request(canary.errors, canary.requests),
            "stable_value": _per_request(stable.errors, stable.requests),
        }
    if metric.kind is MetricKind.LATENCY:
        q = metric.quantile or 0.5
        return {
            "canary_value": canary.latency.quantile(q),
            "stable_value": stable.latency.quantile(q),
        }
    name = metric.counter or ""
    ours, theirs = canary.counters.get(name), stable.counters.get(name)
    return {
        "canary_count": ours,
        "stable_count": theirs,
        "canary_value": None if ours is None else _per_request(ours, canary.requests),
        "stable_value": None if theirs is None else _per_request(theirs, stable.requests),
    }


def head(metric: Metric, canary: VersionSample, stable: VersionSample) -> str:
    """``canary error rate 4.1% vs stable 0.2% over 1,830 requests``."""
    values = observed(metric, canary, stable)
    show = FORMATS[metric.kind]
    ours, theirs = (
        show(value) if isinstance(value, float | int) else "unknown"
        for value in (values["canary_value"], values["stable_value"])
    )
    return f"canary {metric.label} {ours} vs stable {theirs} over {fmt.requests(canary.requests)}"


def _per_request(count: float, requests: int) -> float:
    return count / requests if requests else 0.0
