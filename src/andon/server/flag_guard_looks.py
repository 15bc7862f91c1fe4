"""Metric guards judged, purely: one look of a guard (a router metric over its window —
error rate, latency quantile, request rate — against its bound and its recovery level,
with the evidence and the sentences the history keeps), and the decision a flag's looks
lead to (:func:`decide_guards`: trip, restore, or leave it).

:class:`~andon.server.flag_guarding.FlagGuardController` sums each window's counts with
:func:`summed`, asks :func:`assess_look` for each guard and acts on
:func:`decide_guards`. No I/O and no clock here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from andon.analysis import LatencyHistogram, VersionSample
from andon.spec.flag_guards import GuardQuery, MetricWatch

RECOVER_MAX = 0.5
"""A ``max`` guard is healthy again at or below this share of its bound."""
RECOVER_MIN = 1.5
"""A ``min`` guard is healthy again at or above this multiple of its bound."""


class Standing(StrEnum):
    """Where a guard's metric stands at one look."""

    BREACHED = "breached"
    """Above ``max`` or below ``min``."""
    BETWEEN = "between"
    """Within the bound, not yet half-way back: a tripped flag stays tripped."""
    HEALTHY = "healthy"
    """Half-way back from the bound, or better."""
    UNKNOWN = "unknown"
    """Not enough traffic in the window, or no window yet."""


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """What the router counted over a window, summed over the versions."""

    requests: int
    errors: int
    latency: LatencyHistogram | None
    seconds: float


@dataclass(frozen=True, slots=True)
class Look:
    """One guard's metric over its window, and where it stands."""

    guard: int
    watch: MetricWatch
    standing: Standing
    value: float | None
    requests: int
    seconds: float

    def evidence(self, *, recovered: bool = False) -> dict[str, Any]:
        """What the history keeps: the metric, its value, the bound it broke (or, with
        ``recovered``, the level it came back to), the requests and the window."""
        found: dict[str, Any] = {
            "guard": self.guard,
            "metric": self.watch.query.value,
            "value": self.value,
            "requests": self.requests,
            "window": round(self.seconds, 3),
        }
        if recovered:
            found["level"] = _levels(self.watch)
        else:
            side, bound = self._broken()
            found |= {"bound": side, "threshold": bound}
        return found

    def sentence(self) -> str:
        """``error_rate 12.5% over the last 60s is above max 2% (400 requests)``."""
        side, bound = self._broken()
        where = "above" if side == "max" else "below"
        return (
            f"{self.watch.query.value} {self._shown(self.value)} over the last "
            f"{self.seconds:g}s is {where} {side} {self._shown(bound)} ({self.requests} requests)"
        )

    def recovered_sentence(self, held_for: float) -> str:
        """``error_rate 0.5% has stayed at or below 1% (half-way back from its bound) for
        120s``."""
        levels = _levels(self.watch)
        parts = []
        if "max" in levels:
            parts.append(f"at or below {self._shown(levels['max'])}")
        if "min" in levels:
            parts.append(f"at or above {self._shown(levels['min'])}")
        return (
            f"{self.watch.query.value} {self._shown(self.value)} has stayed "
            f"{' and '.join(parts)} (half-way back from its bound) for {held_for:g}s"
        )

    def _broken(self) -> tuple[str, float]:
        watch, value = self.watch, self.value
        if watch.min is not None and (
            watch.max is None or (value is not None and value < watch.min)
        ):
            return "min", watch.min
        assert watch.max is not None
        return "max", watch.max

    def _shown(self, value: float | None) -> str:
        if value is None:
            return "-"
        query = self.watch.query
        if query is GuardQuery.ERROR_RATE:
            return f"{value * 100:.3g}%"
        if query is GuardQuery.REQUEST_RATE:
            return f"{value:.3g}/s"
        return f"{value * 1000:.0f}ms"


class GuardAction(StrEnum):
    """What the guards of a flag do to it."""

    TRIP = "trip"
    RESTORE = "restore"


@dataclass(frozen=True, slots=True)
class GuardDecision:
    """What :func:`decide_guards` decided for one flag."""

    action: GuardAction | None
    guard: int | None
    look: Look | None
    """The look that trips, or the holding guard's healthy look that restores."""
    healthy_since: dict[int, float]
    """When each guard turned healthy (seconds), for the next decision."""


def decide_guards(
    looks: Sequence[Look],
    recovery: Mapping[int, float],
    held: Mapping[str, Any] | None,
    healthy_since: Mapping[int, float],
    now: float,
) -> GuardDecision:
    """Trip, restore or leave a flag, from its metric guards' looks at ``now`` (seconds),
    each guard's ``recovery`` (seconds), the flag's hold and when each guard turned
    healthy. No side effects."""
    by_guard = {look.guard: look for look in looks}
    since = {guard: at for guard, at in healthy_since.items() if guard in by_guard}
    for look in looks:
        if look.standing is Standing.HEALTHY:
            since.setdefault(look.guard, now)
        elif look.standing is not Standing.UNKNOWN:
            since.pop(look.guard, None)
    breached = next((look for look in looks if look.standing is Standing.BREACHED), None)
    if held is None:
        if breached is not None:
            return GuardDecision(GuardAction.TRIP, breached.guard, breached, since)
        return GuardDecision(None, None, None, since)
    # A person's kill (or any hold but a guard's) is theirs to end.
    if held.get("by") != "guard":
        return GuardDecision(None, None, None, since)
    guard = held.get("guard")
    holding = by_guard.get(guard) if isinstance(guard, int) else None
    if holding is None:
        # The guard that tripped the flag is gone from its guards: nothing holds it now.
        return GuardDecision(
            GuardAction.RESTORE, guard if isinstance(guard, int) else None, None, since
        )
    started = since.get(holding.guard)
    recovered = (
        holding.standing is Standing.HEALTHY
        and started is not None
        and now - started >= recovery.get(holding.guard, 0.0)
    )
    if recovered and breached is None:
        return GuardDecision(GuardAction.RESTORE, holding.guard, holding, since)
    return GuardDecision(None, None, None, since)


def assess_look(
    guard: int, watch: MetricWatch, counts: WindowCounts | None, min_requests: int
) -> Look:
    """Guard ``guard``'s metric over ``counts`` (None: no window yet) and where it
    stands; error rate and latency need ``min_requests`` in the window. No side effects."""
    if counts is None:
        return Look(guard, watch, Standing.UNKNOWN, None, 0, 0.0)
    value = metric_value(watch.query, counts, min_requests)
    standing = Standing.UNKNOWN
    if value is not None:
        breached = (watch.max is not None and value > watch.max) or (
            watch.min is not None and value < watch.min
        )
        healthy = (watch.max is None or value <= watch.max * RECOVER_MAX) and (
            watch.min is None or value >= watch.min * RECOVER_MIN
        )
        standing = (
            Standing.BREACHED if breached else Standing.HEALTHY if healthy else Standing.BETWEEN
        )
    return Look(guard, watch, standing, value, counts.requests, counts.seconds)


def metric_value(query: GuardQuery, counts: WindowCounts, min_requests: int) -> float | None:
    """The metric over the window (a share, seconds, or requests per second); None when
    too few requests make it meaningless. No side effects."""
    if query is GuardQuery.REQUEST_RATE:
        return counts.requests / counts.seconds if counts.seconds > 0 else None
    if query is GuardQuery.ERROR_RATE:
        return counts.errors / counts.requests if counts.requests >= min_requests else None
    latency = counts.latency
    if latency is None or latency.total < min_requests:
        return None
    return latency.quantile(0.95 if query is GuardQuery.LATENCY_P95 else 0.99)


def summed(parts: Sequence[VersionSample], seconds: float) -> WindowCounts:
    """The windows of several versions as one; latency histograms whose buckets differ
    from the first version's are left out (one router counts them all alike)."""
    histograms = [part.latency for part in parts if part.latency.bounds]
    latency = None
    if histograms:
        bounds = histograms[0].bounds
        alike = [histogram for histogram in histograms if histogram.bounds == bounds]
        latency = LatencyHistogram(
            bounds,
            tuple(sum(counts) for counts in zip(*(h.counts for h in alike), strict=True)),
            sum(histogram.sum for histogram in alike),
        )
    return WindowCounts(
        requests=sum(part.requests for part in parts),
        errors=sum(part.errors for part in parts),
        latency=latency,
        seconds=seconds,
    )


def _levels(watch: MetricWatch) -> dict[str, float]:
    """The recovery level of each bound the guard has."""
    levels = {}
    if watch.max is not None:
        levels["max"] = watch.max * RECOVER_MAX
    if watch.min is not None:
        levels["min"] = watch.min * RECOVER_MIN
    return levels
