"""DORA's five metrics over a window of time: :func:`assess_dora` counts the deployments of
:func:`~andon.dora.deployments.assess_deployments` that started in the window and in the
window of equal length before it, classifies each metric (:mod:`andon.dora.levels`) and
says how it moved. The server's ``dora_report``, ``/metrics``, the CLI and the dashboard
show the :class:`DoraReport`.

The metrics (``docs/dora.md`` says the same for people):

* **Deployment frequency**: deployments (any outcome) per day of the window. None (no
  data) while nothing was ever deployed to the environment; 0 per day when deployments
  stopped.
* **Change lead time**: the median and 90th percentile of the lead times of the commits
  first brought by the window's succeeded deployments.
* **Change fail rate**: failed / (succeeded + failed) deployments; in-progress ones wait.
* **Failed deployment recovery time**: the median and 90th percentile, over the window's
  failed deployments whose service is restored, of the time from start to restored.
* **Deployment rework rate**: rework / (succeeded + failed) deployments, counting the rework
  deployments that ended.

Percentiles interpolate linearly between the two nearest ranks (as numpy's default and
spreadsheets' ``PERCENTILE.INC`` do): of ``n`` sorted values, the ``q`` quantile sits at
position ``(n - 1) * q``, counted from 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from andon.dora.deployments import Deployment, Outcome
from andon.dora.levels import (
    Level,
    assess_trend,
    change_fail_rate_level,
    frequency_level,
    lead_time_level,
    recovery_time_level,
)

DAY_SECONDS = 86400.0


@dataclass(frozen=True, slots=True)
class Window:
    """The deployments started from ``since`` (included) to ``until`` (excluded)."""

    since: datetime
    until: datetime

    @property
    def days(self) -> float:
        return (self.until - self.since).total_seconds() / DAY_SECONDS

    def holds(self, at: datetime) -> bool:
        return self.since <= at < self.until

    def previous(self) -> Window:
        """The window of equal length that ends where this one starts."""
        return Window(self.since - (self.until - self.since), self.since)


@dataclass(frozen=True, slots=True)
class Measures:
    """The five metrics' raw values over one window."""

    window: Window
    # The deployments that started in the window, oldest first.
    deployments: tuple[Deployment, ...]
    # Whether anything was deployed to the environment before the window ended.
    deployed_ever: bool

    def count(self, outcome: Outcome) -> int:
        return sum(1 for d in self.deployments if d.outcome is outcome)

    @property
    def ended(self) -> int:
        """Succeeded and failed deployments: what the rates divide by."""
        return self.count(Outcome.SUCCEEDED) + self.count(Outcome.FAILED)

    @property
    def rework(self) -> int:
        """The rework deployments that ended, counted in the rework rate."""
        return sum(1 for d in self.deployments if d.rework and d.outcome is not Outcome.IN_PROGRESS)

    @property
    def frequency(self) -> float | None:
        if not self.deployed_ever or self.window.days <= 0:
            return None
        return len(self.deployments) / self.window.days

    @property
    def lead_times(self) -> list[float]:
        return [
            commit.lead_time.total_seconds()
            for d in self.deployments
            if d.outcome is Outcome.SUCCEEDED
            for commit in d.commits
            if commit.lead_time is not None
        ]

    @property
    def recoveries(self) -> list[float]:
        return [d.recovery.total_seconds() for d in self.deployments if d.recovery is not None]

    @property
    def fail_rate(self) -> float | None:
        return _ratio(self.count(Outcome.FAILED), self.ended)

    @property
    def rework_rate(self) -> float | None:
        return _ratio(self.rework, self.ended)


@dataclass(frozen=True, slots=True)
class DoraReport:
    """DORA's metrics of one environment (of one project, or of every project) over a
    window, with the window before it for the trend."""

    project: str | None
    environment: str
    current: Measures
    previous: Measures

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values: the shape the API, the CLI and the dashboard share."""
        now, before = self.current, self.previous
        lead, lead_before = now.lead_times, before.lead_times
        recovered, recovered_before = now.recoveries, before.recoveries
        return {
            "project": self.project,
            "environment": self.environment,
            "since": _iso(now.window.since),
            "until": _iso(now.window.until),
            "days": now.window.days,
            "deployments": {
                "total": len(now.deployments),
                "succeeded": now.count(Outcome.SUCCEEDED),
                "failed": now.count(Outcome.FAILED),
                "in_progress": now.count(Outcome.IN_PROGRESS),
                "rework": sum(1 for d in now.deployments if d.rework),
            },
            "metrics": {
                "deployment_frequency": {
                    "value": now.frequency,
                    "count": len(now.deployments),
                    **_judged(now.frequency, before.frequency, frequency_level, higher=True),
                },
                "change_lead_time": {
                    "median_seconds": quantile(lead, 0.5),
                    "p90_seconds": quantile(lead, 0.9),
                    "commits": len(lead),
                    **_judged(quantile(lead, 0.5), quantile(lead_before, 0.5), lead_time_level),
                },
                "change_fail_rate": {
                    "value": now.fail_rate,
                    "failed": now.count(Outcome.FAILED),
                    "deployments": now.ended,
                    **_judged(now.fail_rate, before.fail_rate, change_fail_rate_level),
                },
                "failed_deployment_recovery_time": {
                    "median_seconds": quantile(recovered, 0.5),
                    "p90_seconds": quantile(recovered, 0.9),
                    "recoveries": len(recovered),
                    **_judged(
                        quantile(recovered, 0.5),
                        quantile(recovered_before, 0.5),
                        recovery_time_level,
                    ),
                },
                "deployment_rework_rate": {
                    "value": now.rework_rate,
                    "rework": now.rework,
                    "deployments": now.ended,
                    # DORA publishes no performance levels for the rework rate.
                    **_judged(now.rework_rate, before.rework_rate, lambda _: None),
                },
            },
            "deployment_list": [d.to_dict() for d in now.deployments],
        }


def assess_dora(
    deployments: Iterable[Deployment],
    *,
    project: str | None,
    environment: str,
    since: datetime,
    until: datetime,
) -> DoraReport:
    """DORA's metrics of ``environment`` of ``project`` (None: of every project, together)
    over ``since``..``until`` and the window before it, from ``deployments`` as
    :func:`~andon.dora.deployments.assess_deployments` gives them (others are left out).
    No side effects."""
    ours = [
        d
        for d in deployments
        if d.environment == environment and (project is None or d.project == project)
    ]
    window = Window(since, until)
    return DoraReport(
        project, environment, _measure(ours, window), _measure(ours, window.previous())
    )


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of ``values``, interpolated linearly between the nearest ranks;
    None when there are none. No side effects."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _measure(deployments: list[Deployment], window: Window) -> Measures:
    return Measures(
        window=window,
        deployments=tuple(d for d in deployments if window.holds(d.started_at)),
        deployed_ever=any(d.started_at < window.until for d in deployments),
    )


def _judged(
    value: float | None,
    previous: float | None,
    level: Callable[[float | None], Level | None],
    *,
    higher: bool = False,
) -> dict[str, Any]:
    found = level(value)
    trend = assess_trend(value, previous, higher_is_better=higher)
    return {
        "level": None if found is None else found.value,
        "previous": previous,
        "trend": None if trend is None else trend.value,
    }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
