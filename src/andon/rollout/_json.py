"""Plain JSON values for the rollout's data: datetimes as ISO 8601 text, durations as
seconds. Every ``to_dict``/``from_dict`` of the package goes through these helpers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any


def time_text(value: datetime | None) -> str | None:
    """``value`` as ISO 8601 text, or None."""
    return None if value is None else value.isoformat()


def read_time(value: Any) -> datetime | None:
    """A datetime from ISO 8601 text (or a datetime), or None."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def seconds(value: timedelta | None) -> float | None:
    """``value`` in seconds, or None."""
    return None if value is None else value.total_seconds()


def read_seconds(value: Any) -> timedelta | None:
    """A timedelta from seconds (or a timedelta), or None."""
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(seconds=float(value))


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping; an empty one for None."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object, got {type(value).__name__}")
    return value
