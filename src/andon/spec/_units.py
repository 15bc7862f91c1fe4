"""Units that andon.yaml writes as text: durations (``30s``, ``5m``, ``1h30m``) and
percentages (``10%``). The spec models use the annotated types defined here; each
parses on load, serialises back to the same text, and documents itself in the JSON Schema.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_DURATION_TEXT = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$"
PERCENT_PATTERN = r"^[0-9]+(\.[0-9]+)?%$"
_PERCENT_SCHEMA_PATTERN = r"^0*(100(\.0+)?|[0-9]{1,2}(\.[0-9]+)?)%$"
"""PERCENT_PATTERN with the 0-100 range folded in, so that the JSON Schema refuses 150%."""


def parse_duration(value: Any) -> timedelta:
    """Turn ``"1h30m"`` into a timedelta; raise ValueError with a sentence otherwise."""
    if isinstance(value, timedelta):
        return value
    # A bare number is refused rather than guessed: 30 could mean seconds or minutes.
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            f"expected a duration such as 30s, 5m or 2h, got {value!r}; add a unit (ms, s, m, h, d)"
        )
    text = value.strip()
    if not _DURATION_TEXT.match(text):
        raise ValueError(f"expected a duration such as 30s, 5m or 2h, got {value!r}")
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(
            f"{value!r} is longer than 999999999 days, the most a duration can be"
        ) from None


def format_duration(value: timedelta) -> str:
    """The shortest text that ``parse_duration`` reads back as ``value``."""
    micro = value // timedelta(microseconds=1)
    if micro % 1000:
        # Finer than a millisecond (``0.5ms``): decimal seconds read back exactly.
        whole, fraction = divmod(micro, 1_000_000)
        return f"{whole}.{fraction:06d}".rstrip("0") + "s"
    total_ms = micro // 1000
    if total_ms % 1000:
        return f"{total_ms}ms"
    seconds = total_ms // 1000
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_percent(value: Any) -> float:
    """``"10%"`` or ``10`` → ``10.0`` percentage points, between 0 and 100."""
    if isinstance(value, bool):
        raise ValueError(f"expected a percentage such as 10%, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not re.match(PERCENT_PATTERN, text):
            raise ValueError(f"expected a percentage such as 10%, got {value!r}")
        number = float(text[:-1])
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise ValueError(f"expected a percentage such as 10%, got {value!r}")
    if not 0 <= number <= 100:
        raise ValueError(f"a percentage lies between 0% and 100%, got {value!r}")
    return number


def format_percent(value: float) -> str:
    """``10.0`` → ``"10%"``."""
    return f"{value:g}%"


def parse_measure(value: Any) -> float:
    """A threshold value: a number, a percentage (``1%`` = 0.01) or a duration (seconds)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, a percentage or a duration, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            return parse_percent(text) / 100.0
        if _DURATION_TEXT.match(text):
            return parse_duration(text).total_seconds()
    raise ValueError(f"expected a number, a percentage (1%) or a duration (500ms), got {value!r}")


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: a number and a unit (ms, s, m, h, d), e.g. 30s, 5m, 1h30m.",
        }
    ),
]
"""A duration written as ``30s``, ``5m``, ``2h`` or ``1h30m``."""

Percent = Annotated[
    float,
    BeforeValidator(parse_percent),
    PlainSerializer(format_percent, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _PERCENT_SCHEMA_PATTERN},
                {"type": "number", "minimum": 0, "maximum": 100},
            ],
            "description": "A percentage, e.g. 10% (or the number 10).",
        }
    ),
]
"""Percentage points between 0 and 100, written ``10%``."""

Measure = Annotated[
    float,
    BeforeValidator(parse_measure),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "pattern": _PERCENT_SCHEMA_PATTERN},
                {"type": "string", "pattern": DURATION_PATTERN},
            ],
            "description": "A number, a percentage (1% means 0.01) or a duration (in seconds).",
        }
    ),
]
"""A threshold value: number, percentage as a fraction, or duration in seconds."""
