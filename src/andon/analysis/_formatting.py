"""Numbers as a person reads them in a verdict's sentence: counts with thousands separators,
rates as percentages with two significant digits, latencies in ms or s, p-values that stop
at ``p < 0.001``. The judges and the aggregate call these; nothing else should round."""

from __future__ import annotations

import math


def count(value: float) -> str:
    """``1830`` → ``"1,830"``; fractional counts (counters may be floats) keep one decimal."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def requests(value: float) -> str:
    """``1830`` → ``"1,830 requests"``, ``1`` → ``"1 request"``."""
    return f"{count(value)} {'request' if value == 1 else 'requests'}"


def percent(rate: float) -> str:
    """A rate as a percentage: ``0.041`` → ``"4.1%"``, ``0.0004`` → ``"0.04%"``,
    ``0.1234`` → ``"12.3%"``; two significant digits below 10%, one decimal above."""
    points = rate * 100.0
    if points == 0:
        return "0%"
    if abs(points) < 0.001:
        return "< 0.001%" if points > 0 else "> -0.001%"
    if abs(points) >= 10:
        return f"{points:.1f}".removesuffix(".0") + "%"
    # "g" drops trailing zeros and never turns these magnitudes into exponents.
    return f"{points:.2g}%"


def seconds(value: float) -> str:
    """A latency: ``0.612`` → ``"612 ms"``, ``2.5`` → ``"2.5 s"``, ``12.0`` → ``"12 s"``."""
    if math.isinf(value):
        return "∞"
    if value < 0.001:
        return f"{value * 1000:.2g} ms"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 10:
        return f"{value:.1f} s".replace(".0 s", " s")
    return f"{value:.0f} s"


def number(value: float) -> str:
    """A plain quantity with three significant digits: ``0.03125`` → ``"0.0312"``,
    ``12345.6`` → ``"12,346"``."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def per_second(value: float) -> str:
    """A request rate: ``12.34`` → ``"12.3 req/s"``."""
    return f"{number(value)} req/s"


def p_value(p: float) -> str:
    """``"p < 0.001"`` when tiny, else ``"p = 0.004"`` or ``"p = 0.41"``."""
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01:
        return f"p = {p:.3f}"
    return f"p = {min(p, 1.0):.2f}"


def share(value: float) -> str:
    """A tolerance given as a fraction: ``1.0`` → ``"100%"``, ``0.3`` → ``"30%"``."""
    return f"{value * 100:g}%"
