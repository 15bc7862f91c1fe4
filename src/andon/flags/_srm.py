"""The sample-ratio-mismatch check of an experiment: did the flag assign units in the split
it was given? A skewed assignment (a redirect that loses some users, a cache that serves
one variant, a bot that sticks to one bucket) biases every comparison, so results are not
to be trusted while it fails.

:func:`assess_sample_ratio` is called by :func:`andon.flags.experiments.assess_experiment`
and exported on its own for the server's experiment results endpoint. Pure: no I/O, no
side effects; the chi-square distribution is computed here with the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SRM_THRESHOLD = 0.001
"""The usual p-value below which a sample ratio mismatch is declared: strict, because the
check runs on every look at every experiment and a false alarm discards good results."""

_EPSILON = 1e-15
_TINY = 1e-300
_MAX_TERMS = 100_000


@dataclass(frozen=True, slots=True)
class SampleRatioCheck:
    """A chi-square goodness-of-fit test of the exposures against the expected split."""

    observed: Mapping[str, int]
    """Exposures per variant, in the variants' order."""
    expected: Mapping[str, float]
    """Exposures per variant that the split predicts for the same total."""
    chi_square: float
    degrees_of_freedom: int
    """Variants with a positive weight, less one."""
    p_value: float
    threshold: float
    skewed: bool
    """True when ``p_value < threshold``: the results are not trustworthy."""
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "observed": dict(self.observed),
            "expected": dict(self.expected),
            # JSON has no infinity: a variant seen where none was expected is shown as null.
            "chi_square": self.chi_square if math.isfinite(self.chi_square) else None,
            "degrees_of_freedom": self.degrees_of_freedom,
            "p_value": self.p_value,
            "threshold": self.threshold,
            "skewed": self.skewed,
            "message": self.message,
        }


def assess_sample_ratio(
    observed: Mapping[str, int],
    expected_weights: Mapping[str, float] | None = None,
    *,
    threshold: float = SRM_THRESHOLD,
) -> SampleRatioCheck:
    """Chi-square test (``k - 1`` degrees of freedom) of ``observed`` exposures against
    ``expected_weights`` (any positive scale, e.g. the flag's fractional weights; equal
    when None). No side effects.

    Raises :class:`ValueError` (a programming error: the server builds both mappings from
    the flag) when the weights do not name exactly the observed variants, or a count or
    weight is negative, or every weight is zero.
    """
    weights = dict.fromkeys(observed, 1.0) if expected_weights is None else expected_weights
    if set(weights) != set(observed):
        raise ValueError(
            f"expected weights name {sorted(weights)} but exposures name {sorted(observed)}; "
            "give a weight for every variant."
        )
    if any(count < 0 for count in observed.values()) or any(w < 0 for w in weights.values()):
        raise ValueError("exposures and weights cannot be negative.")
    scale = math.fsum(weights.values())
    if scale <= 0:
        raise ValueError("at least one variant needs a positive weight.")
    total = sum(observed.values())
    expected = {name: total * weights[name] / scale for name in observed}
    # A variant given no weight has no degree of freedom; one seen anyway is certain skew.
    weighted = [name for name in observed if weights[name] > 0]
    strays = any(observed[name] > 0 for name in observed if weights[name] == 0)
    df = len(weighted) - 1
    statistic, p = (math.inf, 0.0) if strays else (0.0, 1.0)
    if not strays and total > 0 and df >= 1:
        statistic = math.fsum((observed[n] - expected[n]) ** 2 / expected[n] for n in weighted)
        p = chi_square_sf(statistic, df)
    skewed = p < threshold
    return SampleRatioCheck(
        observed=dict(observed),
        expected=expected,
        chi_square=statistic,
        degrees_of_freedom=df,
        p_value=p,
        threshold=threshold,
        skewed=skewed,
        message=_message(observed, weights, scale, p, skewed),
    )


def chi_square_sf(x: float, df: int) -> float:
    """P(X > x) for X chi-square with ``df`` degrees of freedom: the regularized upper
    incomplete gamma function Q(df/2, x/2)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, not {df}.")
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    return _upper_gamma(df / 2.0, x / 2.0)


def _upper_gamma(a: float, x: float) -> float:
    """Q(a, x) as in Numerical Recipes (gammq): the series for P when ``x < a + 1``,
    where it converges fast, else Lentz's continued fraction for Q, which keeps full
    relative precision far in the tail (where 1 - P would round to zero)."""
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        denominator = a
        for _ in range(_MAX_TERMS):
            denominator += 1.0
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * _EPSILON:
                break
        return max(1.0 - total * math.exp(log_front), 0.0)
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    fraction = d
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        fraction *= d * c
        if abs(d * c - 1.0) < _EPSILON:
            break
    return math.exp(log_front) * fraction


def _message(
    observed: Mapping[str, int], weights: Mapping[str, float], scale: float, p: float, skewed: bool
) -> str:
    """``assignment is skewed: control 5,210 vs treatment 4,790 exposures where 50/50 was
    expected (chi-square p = 2.7e-5); results are not trustworthy``."""
    split = "/".join(f"{100.0 * weights[name] / scale:.3g}" for name in observed)
    counts = [f"{name} {count:,}" for name, count in observed.items()]
    seen = " vs ".join(counts) if len(counts) == 2 else _listing(counts)
    if sum(observed.values()) == 0:
        return f"no exposures yet to check against the expected {split} split"
    if skewed:
        return (
            f"assignment is skewed: {seen} exposures where {split} was expected "
            f"(chi-square {_p_value(p)}); results are not trustworthy"
        )
    return (
        f"assignment matches the expected {split} split: {seen} exposures "
        f"(chi-square {_p_value(p)})"
    )


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _p_value(p: float) -> str:
    """``p = 2.7e-5`` when tiny (an SRM threshold is far below the usual 0.001 floor of
    the verdicts' sentences), ``p = 0.004``, ``p = 0.69``."""
    if p == 0.0:
        return "p = 0"
    if p < 0.001:
        mantissa, exponent = f"{p:.1e}".split("e")
        return f"p = {mantissa}e{int(exponent)}"
    if p < 0.01:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}"
