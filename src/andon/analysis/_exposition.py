"""Business counters out of an instance's Prometheus text (``/metrics``): the rollout
reconciler scrapes each version's instances and hands the text here, so that a metric such
as ``shop_orders_total`` can be judged per request beside the router's counts."""

from __future__ import annotations

import math
import re
from collections.abc import Collection

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def read_counters(text: str, names: Collection[str] | None = None) -> dict[str, float]:
    """The value of each sample family in ``text`` (all of them, or only ``names``),
    summed over its label sets: several workers or instances add up to one version.

    Lines that cannot be read are skipped rather than refused: an instance's odd metric
    must not stop the analysis of the ones that matter.
    """
    found: dict[str, float] = {}
    for line in text.splitlines():
        parsed = _sample(line.strip())
        if parsed is None:
            continue
        name, value = parsed
        if names is not None and name not in names:
            continue
        found[name] = found.get(name, 0.0) + value
    return found


def _sample(line: str) -> tuple[str, float] | None:
    if not line or line.startswith("#"):
        return None
    match = _NAME.match(line)
    if match is None:
        return None
    name, rest = match.group(), line[match.end() :]
    if rest.startswith("{"):
        end = _labels_end(rest)
        if end is None:
            return None
        rest = rest[end + 1 :]
    parts = rest.split()
    if not parts:
        return None
    try:
        value = float(parts[0])
    except ValueError:
        return None
    # A NaN would poison every sum it joins; an infinite counter is not a count.
    if not math.isfinite(value):
        return None
    return name, value


def _labels_end(text: str) -> int | None:
    """Where the label set that opens ``text`` closes, skipping braces inside quoted
    values (which may also hold escaped quotes)."""
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "}" and not quoted:
            return index
    return None
