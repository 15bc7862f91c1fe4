"""DORA's performance levels and trends: where a metric's value stands (elite, high, medium,
low) and whether it moved for the better since the previous period.

The thresholds are the performance levels of the DORA State of DevOps reports; DORA
publishes none for the deployment rework rate, so it has no level. :mod:`andon.dora.metrics`
classifies each metric of a report with these; every function here is pure.
"""

from __future__ import annotations

import math
from enum import StrEnum

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
MONTH = 30 * DAY


class Level(StrEnum):
    """A DORA performance level, best first."""

    ELITE = "elite"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Trend(StrEnum):
    """How a metric moved since the previous period of equal length."""

    BETTER = "better"
    WORSE = "worse"
    SAME = "same"


def frequency_level(per_day: float | None) -> Level | None:
    """Elite at once a day or more, high at once a week, medium at once a month; no
    level without data. No side effects."""
    if per_day is None:
        return None
    for level, least in ((Level.ELITE, 1.0), (Level.HIGH, DAY / WEEK), (Level.MEDIUM, DAY / MONTH)):
        # 4 deployments in 28 days is once a week, whatever the float division rounds to.
        if per_day >= least or math.isclose(per_day, least):
            return level
    return Level.LOW


def lead_time_level(median_seconds: float | None) -> Level | None:
    """Elite under a day from commit to production, high under a week, medium under a
    month (30 days). No side effects."""
    return _under(median_seconds, (DAY, WEEK, MONTH))


def change_fail_rate_level(rate: float | None) -> Level | None:
    """Elite at 5 % of deployments failing or fewer, high at 10 %, medium at 15 %. No side
    effects."""
    if rate is None:
        return None
    for level, most in ((Level.ELITE, 0.05), (Level.HIGH, 0.10), (Level.MEDIUM, 0.15)):
        # 3 failures of 20 is 15 % exactly, though 3 / 20 is a hair above 0.15 as a float.
        if rate <= most or math.isclose(rate, most):
            return level
    return Level.LOW


def recovery_time_level(median_seconds: float | None) -> Level | None:
    """Elite when service is restored within the hour after a failed deployment, high
    within a day, medium within a week. No side effects."""
    return _under(median_seconds, (HOUR, DAY, WEEK))


def assess_trend(
    current: float | None, previous: float | None, *, higher_is_better: bool
) -> Trend | None:
    """Whether ``current`` is better, worse or the same as ``previous``; None when either
    has no data. No side effects."""
    if current is None or previous is None:
        return None
    if math.isclose(current, previous, rel_tol=1e-9, abs_tol=1e-12):
        return Trend.SAME
    return Trend.BETTER if (current > previous) == higher_is_better else Trend.WORSE


def _under(seconds: float | None, limits: tuple[float, float, float]) -> Level | None:
    if seconds is None:
        return None
    for level, limit in zip((Level.ELITE, Level.HIGH, Level.MEDIUM), limits, strict=True):
        if seconds < limit:
            return level
    return Level.LOW
