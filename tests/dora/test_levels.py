"""DORA's performance levels at their published thresholds, and trends."""

from __future__ import annotations

import pytest

from andon.dora import (
    Level,
    Trend,
    assess_trend,
    change_fail_rate_level,
    frequency_level,
    lead_time_level,
    recovery_time_level,
)

HOUR, DAY = 3600.0, 86400.0
ELITE, HIGH, MEDIUM, LOW = Level.ELITE, Level.HIGH, Level.MEDIUM, Level.LOW


@pytest.mark.parametrize(
    ("per_day", "level"),
    [
        (3.0, ELITE),
        (1.0, ELITE),
        (0.99, HIGH),
        (4 / 28, HIGH),  # once a week
        (0.14, MEDIUM),
        (1 / 30, MEDIUM),  # once a month
        (0.03, LOW),
        (0.0, LOW),
        (None, None),
    ],
)
def test_deployment_frequency_is_elite_daily_high_weekly_medium_monthly(
    per_day: float | None, level: Level | None
) -> None:
    assert frequency_level(per_day) == level


@pytest.mark.parametrize(
    ("seconds", "level"),
    [
        (5 * 60.0, ELITE),
        (DAY - 1, ELITE),
        (DAY, HIGH),
        (7 * DAY - 1, HIGH),
        (7 * DAY, MEDIUM),
        (30 * DAY - 1, MEDIUM),
        (30 * DAY, LOW),
        (None, None),
    ],
)
def test_lead_time_is_elite_under_a_day_high_under_a_week_medium_under_a_month(
    seconds: float | None, level: Level | None
) -> None:
    assert lead_time_level(seconds) == level


@pytest.mark.parametrize(
    ("rate", "level"),
    [
        (0.0, ELITE),
        (1 / 20, ELITE),
        (0.06, HIGH),
        (2 / 20, HIGH),
        (3 / 20, MEDIUM),
        (0.151, LOW),
        (1.0, LOW),
        (None, None),
    ],
)
def test_change_fail_rate_is_elite_to_5_high_to_10_medium_to_15_percent(
    rate: float | None, level: Level | None
) -> None:
    assert change_fail_rate_level(rate) == level


@pytest.mark.parametrize(
    ("seconds", "level"),
    [
        (59 * 60.0, ELITE),
        (HOUR, HIGH),
        (DAY - 1, HIGH),
        (DAY, MEDIUM),
        (7 * DAY, LOW),
        (None, None),
    ],
)
def test_recovery_time_is_elite_within_the_hour_high_a_day_medium_a_week(
    seconds: float | None, level: Level | None
) -> None:
    assert recovery_time_level(seconds) == level


@pytest.mark.parametrize(
    ("current", "previous", "higher_is_better", "trend"),
    [
        (2.0, 1.0, True, Trend.BETTER),
        (2.0, 1.0, False, Trend.WORSE),
        (0.5, 0.25, False, Trend.WORSE),
        (60.0, 120.0, False, Trend.BETTER),
        (0.1 + 0.2, 0.3, False, Trend.SAME),
        (1.0, None, True, None),
        (None, 1.0, False, None),
    ],
)
def test_a_trend_compares_with_the_previous_period_by_which_way_is_better(
    current: float | None, previous: float | None, higher_is_better: bool, trend: Trend | None
) -> None:
    assert assess_trend(current, previous, higher_is_better=higher_is_better) == trend
