"""Mixture likelihood ratios for :class:`~andon.analysis.sequential.SequentialJudge`.

Each test keeps one log-likelihood ratio per alternative on a fixed grid and adds a batch
of observations at each look; their average (a uniform mixture) is a nonnegative
martingale under the null hypothesis, so by Ville's inequality it ever reaches ``1/alpha``
with probability at most ``alpha``, however often it is looked at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

STEPS: tuple[float, ...] = (1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0)
"""How far from the null each alternative lies (as a factor): from barely worse to a
hundredfold, so that large regressions are caught within a few requests and small ones in
time."""


def log_mixture(log_lrs: Sequence[float]) -> float:
    """The log of the average likelihood ratio over the grid."""
    if not log_lrs:
        return 0.0
    top = max(log_lrs)
    return top + math.log(sum(math.exp(v - top) for v in log_lrs) / len(log_lrs))


def ratio_grid(null: float, upward: bool) -> tuple[float, ...]:
    """Rate ratios beyond ``null``: above it when ``upward``, else below."""
    return tuple(null * step if upward else null / step for step in STEPS)


def share_grid(null: float, upward: bool) -> tuple[float, ...]:
    """Probabilities beyond ``null`` (kept inside (0, 1)): above it when ``upward``."""
    grid = (null * step if upward else null / step for step in STEPS)
    return tuple(p for p in grid if 0.0 < p < 1.0)


def conditional_increments(
    alternatives: Sequence[float],
    null: float,
    *,
    canary: float,
    canary_exposure: float,
    stable: float,
    stable_exposure: float,
) -> list[float]:
    """Log-likelihood ratios of one batch for rate ratios ``alternatives`` against
    ``null``, conditioned on the batch's total count: given the exposures (requests), each
    counted event is the canary's with probability ``ψ·n_c / (ψ·n_c + n_s)``.

    Conditioning removes the stable version's unknown rate, so the ratio is exact for
    Poisson counts; for per-request events (errors) it is the rare-event approximation and
    errs on the cautious side.
    """
    if canary + stable <= 0 or canary_exposure <= 0 or stable_exposure <= 0:
        return [0.0] * len(alternatives)
    weight = canary_exposure / stable_exposure
    null_share = null * weight / (null * weight + 1.0)
    log_null, log_null_other = math.log(null_share), math.log1p(-null_share)
    increments = []
    for ratio in alternatives:
        share = ratio * weight / (ratio * weight + 1.0)
        increments.append(
            canary * (math.log(share) - log_null) + stable * (math.log1p(-share) - log_null_other)
        )
    return increments


def bernoulli_increments(
    alternatives: Sequence[float], null: float, hits: float, trials: float
) -> list[float]:
    """Log-likelihood ratios of ``hits`` in ``trials`` for probabilities ``alternatives``
    against ``null``."""
    if trials <= 0:
        return [0.0] * len(alternatives)
    misses = trials - hits
    log_null, log_null_other = math.log(null), math.log1p(-null)
    return [
        hits * (math.log(p) - log_null) + misses * (math.log1p(-p) - log_null_other)
        for p in alternatives
    ]


def bernoulli_divergence(truth: float, null: float) -> float:
    """Kullback-Leibler divergence of Bernoulli(``truth``) from Bernoulli(``null``): the
    expected log-likelihood ratio gained per observation."""
    total = 0.0
    if truth > 0:
        total += truth * math.log(truth / null)
    if truth < 1:
        total += (1 - truth) * math.log((1 - truth) / (1 - null))
    return total
