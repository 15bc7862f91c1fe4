"""Fixed-sample tests behind :class:`~andon.analysis.comparing.ComparisonJudge`: exact
conditional tests for counts and Mann-Whitney U on histogram buckets. All one-sided,
because a canary is only ever failed for being worse."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def rate_ratio_p(
    canary: float, canary_exposure: float, stable: float, stable_exposure: float, ratio: float
) -> tuple[float, float]:
    """One-sided p-values that the canary's rate per unit of exposure is above (first) and
    below (second) ``ratio`` times the stable's.

    Conditioned on the total count, the canary's share is binomial with probability
    ``ratio·n_c / (ratio·n_c + n_s)`` when both counts are Poisson (the exact conditional
    test for two Poisson rates; for rare errors, Fisher's exact test with a tolerated
    ratio). Counts that are not whole numbers are rounded.
    """
    x = round(canary)
    total = x + round(stable)
    if total == 0 or canary_exposure <= 0 or stable_exposure <= 0:
        return 1.0, 1.0
    share = ratio * canary_exposure / (ratio * canary_exposure + stable_exposure)
    stats = _stats()
    above = float(stats.binom.sf(x - 1, total, share))
    below = float(stats.binom.cdf(x, total, share))
    return min(above, 1.0), min(below, 1.0)


def excess_p(count: int, trials: int, rate: float) -> float:
    """One-sided exact binomial p-value that ``count`` of ``trials`` exceeds ``rate``."""
    if count <= 0 or rate <= 0:
        return 1.0 if count <= 0 else 0.0
    return min(float(_stats().binom.sf(count - 1, trials, rate)), 1.0)


@dataclass(frozen=True)
class RankTest:
    """Mann-Whitney U of the canary against the stable version."""

    u: float
    """The canary's U statistic."""
    z: float
    p: float
    """One-sided: the canary's latencies tend to be higher."""
    superiority: float
    """P(canary slower than stable) + half the ties: 0.5 means no difference."""


def mann_whitney_binned(canary: Sequence[int], stable: Sequence[int]) -> RankTest:
    """Mann-Whitney U over histogram buckets: every observation in a bucket ties with the
    others there, so each takes the bucket's mid-rank and the variance is corrected for
    ties; the normal approximation with continuity correction gives the p-value."""
    n_c, n_s = sum(canary), sum(stable)
    total = n_c + n_s
    if n_c == 0 or n_s == 0:
        return RankTest(u=0.0, z=0.0, p=1.0, superiority=0.5)
    rank_sum = 0.0
    ties = 0.0
    below = 0
    for in_canary, in_stable in zip(canary, stable, strict=True):
        together = in_canary + in_stable
        rank_sum += in_canary * (below + (together + 1) / 2.0)
        ties += float(together) ** 3 - together
        below += together
    u = rank_sum - n_c * (n_c + 1) / 2.0
    mean = n_c * n_s / 2.0
    variance = n_c * n_s / 12.0 * ((total + 1) - ties / (total * (total - 1)))
    superiority = u / (n_c * n_s)
    if variance <= 0:
        # Every observation in one bucket: the histograms cannot tell the versions apart.
        return RankTest(u=u, z=0.0, p=1.0, superiority=superiority)
    z = (u - mean - 0.5) / math.sqrt(variance)
    return RankTest(u=u, z=z, p=float(_stats().norm.sf(z)), superiority=superiority)


def _stats() -> Any:
    """``scipy.stats``, imported when a test is first computed: it takes most of a second
    to import, which every start of the server and the CLI would otherwise pay."""
    from scipy import stats  # noqa: PLC0415

    return stats
