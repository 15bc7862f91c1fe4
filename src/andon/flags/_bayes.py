"""The Bayesian side of :func:`andon.flags.experiments.assess_experiment`: each variant's
probability to convert best, under independent uniform priors on the rates.

A variant with ``x`` conversions of ``n`` exposures has the posterior Beta(1 + x,
1 + n - x). Its probability to be best is ``∫ f_i(p) · Π_{j≠i} F_j(p) dp`` (its density
times the chance that every other rate is lower). The integral is computed by quadrature,
not by Monte Carlo, so the answer is deterministic and tests can check it to five places.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

_REACH = 20.0
"""How many standard deviations each side of its mean a posterior is integrated over.
With shape parameters of at least 1 the heaviest tail is exponential, and beyond 20
standard deviations it holds less than e^-21 (about 1e-9) of the mass."""

_POINTS = 4001
"""Quadrature points per posterior over its reach: a step of 1% of a standard deviation,
which keeps the trapezoid rule's error in the probabilities within a few millionths."""


def probabilities_to_be_best(counts: Sequence[tuple[int, int]]) -> tuple[float, ...]:
    """For each ``(conversions, exposures)`` pair, the posterior probability that its
    rate is the highest. They sum to 1. No side effects.

    All posteriors share one grid: the union of each one's own fine grid around its mean,
    so a narrow posterior is resolved however far it lies from the others. Its cumulative
    distribution comes from the trapezoid rule on that grid, normalised to end at 1.
    """
    if len(counts) < 2:
        return (1.0,) * len(counts)
    shapes = [(1.0 + x, 1.0 + n - x) for x, n in counts]
    grid = _grid(shapes)
    widths = [right - left for left, right in itertools.pairwise(grid)]
    densities = [_densities(grid, a, b) for a, b in shapes]
    cumulatives = [_cumulative(density, widths) for density in densities]

    def best(i: int) -> float:
        integrand = [
            densities[i][m] * math.prod(c[m] for j, c in enumerate(cumulatives) if j != i)
            for m in range(len(grid))
        ]
        return _cumulative(integrand, widths, normalise=False)[-1]

    chances = [best(i) for i in range(len(shapes))]
    # The quadrature's small errors would otherwise leave the total at 1 ± 1e-6.
    total = math.fsum(chances)
    return tuple(chance / total for chance in chances)


def _grid(shapes: Sequence[tuple[float, float]]) -> list[float]:
    points: set[float] = set()
    for a, b in shapes:
        mean = a / (a + b)
        spread = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0)))
        step = 2.0 * _REACH * spread / (_POINTS - 1)
        start = mean - _REACH * spread
        points.update(min(max(start + k * step, 0.0), 1.0) for k in range(_POINTS))
    return sorted(points)


def _densities(grid: Sequence[float], a: float, b: float) -> list[float]:
    """Beta(a, b) density on ``grid`` for ``a, b >= 1``, in logs to survive large counts."""
    log_norm = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    # At the ends the density is 0 unless that shape parameter is exactly 1 (no
    # conversions, or no non-conversions), where log(0) would otherwise raise.
    edges = (math.exp(-log_norm) if a == 1.0 else 0.0, math.exp(-log_norm) if b == 1.0 else 0.0)
    return [
        edges[0]
        if p <= 0.0
        else edges[1]
        if p >= 1.0
        else math.exp((a - 1.0) * math.log(p) + (b - 1.0) * math.log1p(-p) - log_norm)
        for p in grid
    ]


def _cumulative(
    values: Sequence[float], widths: Sequence[float], *, normalise: bool = True
) -> list[float]:
    running = [0.0]
    for m, width in enumerate(widths):
        running.append(running[-1] + 0.5 * (values[m] + values[m + 1]) * width)
    if normalise and running[-1] > 0:
        return [value / running[-1] for value in running]
    return running
