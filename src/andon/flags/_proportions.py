"""Frequentist comparison of one variant's conversion rate with the control's, for
:func:`andon.flags.experiments.assess_experiment`: intervals for the absolute and relative
lift and a two-sided p-value. Pure functions of counts, standard library only, so that the
flag package does not pull scipy into the services that embed the SDK.

Every function takes the treatment's counts first (``x_t`` of ``n_t``), then the
control's (``x_c`` of ``n_c``); callers guarantee ``0 <= x <= n`` and ``n > 0``.
"""

from __future__ import annotations

import math
from enum import StrEnum

_MIN_EXPECTED = 5.0
"""Cochran's rule: the normal approximation is trusted when every cell of the 2x2 table
expects at least this many units; below it the p-value comes from Fisher's exact test."""

_TIES = 1e-7
"""Relative tolerance for tables as likely as the observed one in Fisher's test (as R and
scipy use), so that rounding in the log-probabilities does not drop a tied table."""


class PValueTest(StrEnum):
    """Which test gave a comparison's p-value."""

    Z_TEST = "two_proportion_z"
    """Pooled two-proportion z-test, when every expected cell count is at least 5."""
    FISHER_EXACT = "fisher_exact"
    """Fisher's exact test (two-sided, summing tables no more likely than the observed)."""


def wilson_interval(x: int, n: int, z: float) -> tuple[float, float]:
    """Wilson's score interval for ``x`` of ``n``: it stays inside [0, 1] and keeps a
    sensible width at 0 or ``n`` successes, where the Wald interval collapses to a point."""
    if n == 0:
        return 0.0, 1.0
    p = x / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(centre - half, 0.0), min(centre + half, 1.0)


def difference_interval(x_t: int, n_t: int, x_c: int, n_c: int, z: float) -> tuple[float, float]:
    """Interval for ``p_t - p_c`` by Newcombe's hybrid score method (method 10 of
    Newcombe 1998, Statistics in Medicine 17:873): Wilson intervals of each rate combined.
    Unlike the Wald interval it does not degenerate when a variant has no conversions."""
    p_t, p_c = x_t / n_t, x_c / n_c
    low_t, high_t = wilson_interval(x_t, n_t, z)
    low_c, high_c = wilson_interval(x_c, n_c, z)
    difference = p_t - p_c
    return (
        difference - math.hypot(p_t - low_t, high_c - p_c),
        difference + math.hypot(high_t - p_t, p_c - low_c),
    )


def relative_interval(
    x_t: int, n_t: int, x_c: int, n_c: int, z: float
) -> tuple[float, float] | None:
    """Interval for the relative lift ``p_t / p_c - 1``: the delta method on the log of
    the ratio (Katz's log interval), ``log(p_t/p_c) ± z·sqrt(1/x_t - 1/n_t + 1/x_c -
    1/n_c)``. None when either variant has no conversions: the log ratio is then infinite
    and any finite interval would be invented."""
    if x_t == 0 or x_c == 0:
        return None
    log_ratio = math.log((x_t / n_t) / (x_c / n_c))
    spread = z * math.sqrt(max(1 / x_t - 1 / n_t + 1 / x_c - 1 / n_c, 0.0))
    return math.exp(log_ratio - spread) - 1.0, math.exp(log_ratio + spread) - 1.0


def two_sided_p(x_t: int, n_t: int, x_c: int, n_c: int) -> tuple[float, PValueTest]:
    """The two-sided p-value of "both variants convert at the same rate", and the test
    that gave it: the pooled z-test when every expected cell count is at least 5
    (Cochran's rule), otherwise Fisher's exact test, whose p-value is exact at any size."""
    pooled = (x_t + x_c) / (n_t + n_c)
    smallest = min(n_t, n_c) * min(pooled, 1.0 - pooled)
    if smallest >= _MIN_EXPECTED:
        return _z_test_p(x_t, n_t, x_c, n_c, pooled), PValueTest.Z_TEST
    return fisher_exact_p(x_t, n_t, x_c, n_c), PValueTest.FISHER_EXACT


def _z_test_p(x_t: int, n_t: int, x_c: int, n_c: int, pooled: float) -> float:
    error = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_t + 1.0 / n_c))
    z = (x_t / n_t - x_c / n_c) / error
    # erfc keeps precision in the far tail, where 1 - Φ(z) would round to zero.
    return min(math.erfc(abs(z) / math.sqrt(2.0)), 1.0)


def fisher_exact_p(x_t: int, n_t: int, x_c: int, n_c: int) -> float:
    """Fisher's exact test, two-sided: the probability, given both margins, of a table no
    more likely than the observed one. The treatment's conversions are hypergeometric."""
    converted = x_t + x_c
    total = n_t + n_c
    low, high = max(0, converted - n_c), min(converted, n_t)

    def log_pmf(k: int) -> float:
        return _log_choose(n_t, k) + _log_choose(n_c, converted - k) - _log_choose(total, converted)

    observed = log_pmf(x_t)
    bound = observed + math.log1p(_TIES)
    p = math.fsum(math.exp(v) for v in map(log_pmf, range(low, high + 1)) if v <= bound)
    return min(p, 1.0)


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
