"""Observations of one version at one moment (or over a window between two moments): the
requests it answered, how many were server errors, its latency histogram and the business
counters scraped from its instances.

The rollout reconciler builds them with :func:`samples_from_snapshot` from the router's
:meth:`~andon.agent.router.metrics.RouterMetrics.snapshot` (plus :func:`read_counters` over
each version's ``/metrics`` text), and keeps, per version, the window since the analysis
began::

    step = window(last, now)                       # what happened since the last look
    total = step if total is None else combine(total, step)
    last = now

Counting through consecutive steps, rather than from the start, is what lets a counter
reset (a worker restarted) be noticed. Take a look only when every source answered: a
window either covers a counter for its whole span or does not carry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LatencyHistogram:
    """A latency histogram as the router keeps it: ``counts[i]`` observations at most
    ``bounds[i]`` seconds (and above the previous bound); the last count is above every
    bound (+Inf). Counts per bucket, not cumulative."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    sum: float = 0.0
    """Seconds summed over all observations."""

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.bounds) + 1:
            raise ValueError(
                f"a histogram with {len(self.bounds)} bounds has {len(self.bounds) + 1} counts "
                f"(the last for +Inf), got {len(self.counts)}"
            )

    @classmethod
    def empty(cls, bounds: tuple[float, ...]) -> LatencyHistogram:
        """No observations over ``bounds``."""
        return cls(bounds, (0,) * (len(bounds) + 1))

    @property
    def total(self) -> int:
        """How many observations the histogram holds."""
        return sum(self.counts)

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile, interpolated linearly within its bucket as Prometheus'
        ``histogram_quantile`` does; None without observations.

        The first bucket starts at 0; a quantile in the +Inf bucket is the highest bound.
        """
        total = self.total
        if total == 0 or not self.bounds:
            return None
        rank = q * total
        below = 0
        for index, in_bucket in enumerate(self.counts):
            if below + in_bucket >= rank and in_bucket > 0:
                if index == len(self.bounds):
                    return self.bounds[-1]
                lower = 0.0 if index == 0 else self.bounds[index - 1]
                upper = self.bounds[index]
                return lower + (upper - lower) * (rank - below) / in_bucket
            below += in_bucket
        return self.bounds[-1]

    def above(self, bound: float) -> int:
        """Observations in buckets wholly above ``bound``, which must be one of the bounds."""
        index = self.bounds.index(bound)
        return sum(self.counts[index + 1 :])

    def to_dict(self) -> dict[str, Any]:
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": self.sum}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyHistogram:
        return cls(
            tuple(float(b) for b in data["bounds"]),
            tuple(int(c) for c in data["counts"]),
            float(data.get("sum", 0.0)),
        )


@dataclass(frozen=True)
class VersionSample:
    """What one version did: cumulative counts at ``at`` (``since`` is None) or the
    increase over the window from ``since`` to ``at`` (seconds on the caller's clock)."""

    version: str
    at: float
    requests: int
    """Responses sent to clients, any status."""
    errors: int
    """Responses with a 5xx status."""
    latency: LatencyHistogram
    counters: Mapping[str, float] = field(default_factory=dict)
    """Business counters by name, e.g. ``{"shop_orders_total": 1234.0}``."""
    since: float | None = None

    @property
    def seconds(self) -> float | None:
        """The window's length; None for a cumulative sample."""
        return None if self.since is None else self.at - self.since

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "at": self.at,
            "since": self.since,
            "requests": self.requests,
            "errors": self.errors,
            "latency": self.latency.to_dict(),
            "counters": dict(self.counters),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VersionSample:
        return cls(
            version=str(data["version"]),
            at=float(data["at"]),
            since=None if data.get("since") is None else float(data["since"]),
            requests=int(data["requests"]),
            errors=int(data["errors"]),
            latency=LatencyHistogram.from_dict(data["latency"]),
            counters={str(k): float(v) for k, v in data.get("counters", {}).items()},
        )


def samples_from_snapshot(
    snapshot: Mapping[str, Any],
    at: float,
    counters: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, VersionSample]:
    """Cumulative samples per version from a router snapshot taken at ``at``
    (``{"versions": {name: {"requests": {"2xx": n, ...}, "latency": {...}}}}``), with each
    version's business counters from ``counters`` (by version, then counter name)."""
    found: dict[str, VersionSample] = {}
    for name, version in snapshot.get("versions", {}).items():
        by_class: Mapping[str, int] = version.get("requests", {})
        latency = version.get("latency", {})
        found[name] = VersionSample(
            version=name,
            at=at,
            requests=sum(int(n) for n in by_class.values()),
            errors=int(by_class.get("5xx", 0)),
            latency=LatencyHistogram(
                tuple(float(b) for b in latency.get("buckets", ())),
                tuple(int(c) for c in latency.get("counts", (0,))),
                float(latency.get("sum", 0.0)),
            ),
            counters=dict((counters or {}).get(name, {})),
        )
    return found


def window(earlier: VersionSample, later: VersionSample) -> VersionSample:
    """What ``later`` added to ``earlier``: the window ``(earlier.at, later.at]``.

    A count that went down means its process restarted (a router worker, an instance):
    as Prometheus' ``increase`` does, the new value is then taken as the increase since
    the restart. The router's counts restart together, so any of them going down takes all
    of them from ``later``; each business counter is judged on its own. A counter
    missing from either end is missing from the window.
    """
    if earlier.version != later.version:
        raise ValueError(f"cannot subtract version {earlier.version!r} from {later.version!r}")
    old, new = earlier.latency, later.latency
    restarted = (
        new.bounds != old.bounds
        or later.requests < earlier.requests
        or later.errors < earlier.errors
        or any(n < o for n, o in zip(new.counts, old.counts, strict=True))
    )
    if restarted:
        requests, errors, latency = later.requests, later.errors, new
    else:
        requests = later.requests - earlier.requests
        errors = later.errors - earlier.errors
        latency = LatencyHistogram(
            new.bounds,
            tuple(n - o for n, o in zip(new.counts, old.counts, strict=True)),
            max(new.sum - old.sum, 0.0),
        )
    counters = {
        name: value - earlier.counters[name] if value >= earlier.counters[name] else value
        for name, value in later.counters.items()
        if name in earlier.counters
    }
    return VersionSample(
        version=later.version,
        at=later.at,
        since=earlier.at,
        requests=requests,
        errors=errors,
        latency=latency,
        counters=counters,
    )


def combine(first: VersionSample, second: VersionSample) -> VersionSample:
    """One window made of two consecutive ones (``first`` ends where ``second`` begins).

    A counter only one of them carries is dropped: a rate over part of the requests
    would read as a drop (or a rise) that never happened.
    """
    if first.version != second.version:
        raise ValueError(f"cannot combine version {first.version!r} with {second.version!r}")
    a, b = first.latency, second.latency
    if a.bounds != b.bounds:
        raise ValueError("cannot combine latency histograms with different bucket bounds")
    return VersionSample(
        version=second.version,
        at=second.at,
        since=first.since if first.since is not None else first.at,
        requests=first.requests + second.requests,
        errors=first.errors + second.errors,
        latency=LatencyHistogram(
            a.bounds, tuple(x + y for x, y in zip(a.counts, b.counts, strict=True)), a.sum + b.sum
        ),
        counters={
            name: value + second.counters[name]
            for name, value in first.counters.items()
            if name in second.counters
        },
    )
