"""Which variant of a flag means "on" and which "off", and the sticky split between
them: what the kill switch and the convenience edits of ``andon flags set`` build on.

Called by :mod:`andon.server.flag_edits`. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from andon.errors import UsageError

_SCALE_LIMIT = 6
"""Decimal places a rollout percentage may have (12.5% is 125 of 1000)."""


def off_variant(key: str, flag: Mapping[str, Any]) -> str:
    """The variant a kill serves: the flag's ``metadata.killVariant``, else the variant
    whose value is ``false``, else one named ``off``. UsageError when there is none."""
    variants = flag.get("variants", {})
    named = flag.get("metadata", {}).get("killVariant")
    # An explicit choice wins over a guess from the values.
    if isinstance(named, str) and named in variants:
        return named
    for name, value in variants.items():
        if value is False:
            return str(name)
    if "off" in variants:
        return "off"
    raise UsageError(
        f"flag '{key}' has no off variant (none is false or named 'off'); name one in its "
        "metadata.killVariant."
    )


def on_variant(key: str, flag: Mapping[str, Any]) -> str:
    """The variant a rollout or a segment serves: the variant whose value is ``true``,
    else one named ``on``. UsageError when there is none."""
    variants = flag.get("variants", {})
    for name, value in variants.items():
        if value is True:
            return str(name)
    if "on" in variants:
        return "on"
    raise UsageError(
        f"flag '{key}' has no on variant (none is true or named 'on'); say which with --variant."
    )


def fractional_split(on: str, off: str, percent: float) -> dict[str, Any]:
    """A flagd ``fractional`` rule giving ``percent`` of targeting keys ``on`` and the
    rest ``off``, bucketed by flag key and targeting key (flagd's default), so that a
    unit keeps its variant and a rollout that grows only adds units to ``on``."""
    if not 0 <= percent <= 100:
        raise UsageError(f"a rollout is between 0% and 100%, not {percent:g}%.")
    exact = Decimal(str(percent))
    places = max(0, -exact.as_tuple().exponent)  # type: ignore[operator]
    if places > _SCALE_LIMIT:
        raise UsageError(f"a rollout has at most {_SCALE_LIMIT} decimal places, not {percent}.")
    scale = 10**places
    share = int(exact * scale)
    # The weights stay integers, as flagd's fractional wants them.
    return {"fractional": [[on, share], [off, 100 * scale - share]]}
