"""The sentences of :mod:`andon.flags.experiments`: one variant against the control, with
numbers rounded as a person reads them (the sample-ratio check words its own sentence in
:mod:`andon.flags._srm`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only; experiments imports this module
    from andon.flags.experiments import VariantResult


def describe_comparison(variant: VariantResult, control: VariantResult, confidence: float) -> str:
    """``treatment converts 12.0% vs control 10.0% (+20.0%, 95% CI +8.1% to +33.2%,
    p = 0.001); probability to be best 99.9%``; the lift in percentage points when the
    relative one has no interval (a variant without conversions)."""
    lift = variant.lift
    assert lift is not None and variant.rate is not None and control.rate is not None
    level = f"{confidence * 100:g}% CI"
    if lift.relative is not None and lift.relative_interval is not None:
        low, high = lift.relative_interval
        change = f"{_signed(lift.relative)}, {level} {_signed(low)} to {_signed(high)}"
    else:
        low, high = lift.absolute_interval
        change = (
            f"{_signed(lift.absolute, '')} points, "
            f"{level} {_signed(low, '')} to {_signed(high, '')} points"
        )
    return (
        f"{variant.name} converts {_percent(variant.rate)} vs {control.name} "
        f"{_percent(control.rate)} ({change}, {_p_value(lift.p_value)}); "
        f"probability to be best {_chance(variant.probability_best)}"
    )


def _percent(rate: float, unit: str = "%") -> str:
    """``0.12`` → ``12.0%``; two significant digits below 1% (``0.0045`` → ``0.45%``)."""
    points = rate * 100.0
    if points == 0:
        return f"0{unit}"
    return f"{points:.1f}{unit}" if abs(points) >= 1 else f"{points:.2g}{unit}"


def _signed(rate: float, unit: str = "%") -> str:
    return ("+" if rate >= 0 else "-") + _percent(abs(rate), unit)


def _chance(probability: float | None) -> str:
    # Never print 100.0% or 0.0%: a posterior probability is never certain.
    if probability is None:
        return "unknown"
    if probability > 0.999:
        return "> 99.9%"
    if probability < 0.001:
        return "< 0.1%"
    return f"{probability * 100:.1f}%"


def _p_value(p: float) -> str:
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"
