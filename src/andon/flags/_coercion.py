"""JavaScript's value semantics, as JsonLogic defines its operators by them.

JsonLogic (jsonlogic.com, json-logic-js) is specified by its JavaScript implementation:
truthiness, ``==`` and ``<`` coerce as JavaScript does. The rule compiler
(:mod:`andon.flags._jsonlogic`) calls these helpers from its closures, so they are
written for speed: the common case (strings, numbers) is tested first.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

NAN = math.nan

# A JavaScript numeric literal as Number("...") reads it, once trimmed. Python's float()
# would also accept "nan", "inf" and "1_000", which JavaScript reads as NaN.
_JS_NUMBER = re.compile(
    r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|0[xX][0-9a-fA-F]+"
    r"|0[oO][0-7]+|0[bB][01]+"
)
# The numeric prefix that parseFloat("12px") reads.
_JS_FLOAT_PREFIX = re.compile(r"\s*([+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))")
_INTEGER = re.compile(r"[+-]?\d+")
_EXPONENT = re.compile(r"e([+-])0*(\d)")


def truthy(value: Any) -> bool:
    """JsonLogic's truthiness: JavaScript's, except that an empty array is false."""
    if value.__class__ is bool:
        return bool(value)
    if value is None:
        return False
    if isinstance(value, int | float):
        # NaN is false in JavaScript, true in Python.
        return value != 0 and not math.isnan(value)
    if isinstance(value, str | list):
        return len(value) > 0
    return True


def is_number(value: Any) -> bool:
    """Whether ``value`` is a JSON number (a bool is not)."""
    return isinstance(value, int | float) and value.__class__ is not bool


def to_number(value: Any) -> int | float:
    """JavaScript's ToNumber: ``"12"`` → 12, ``null`` → 0, ``"abc"`` → NaN."""
    if value.__class__ is int or value.__class__ is float:
        return value
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0
        if not _JS_NUMBER.fullmatch(text):
            return NAN
        if _INTEGER.fullmatch(text):
            return int(text)
        if text[:2].lower() in ("0x", "0o", "0b"):
            return int(text, 0)
        return float(text.replace("Infinity", "inf"))
    if isinstance(value, list):
        return to_number(to_string(value))
    return NAN


def parse_float(value: Any) -> int | float:
    """JavaScript's parseFloat, which ``+`` and ``*`` use: ``"12px"`` → 12, ``true`` → NaN."""
    if is_number(value):
        return value  # type: ignore[no-any-return]
    match = _JS_FLOAT_PREFIX.match(to_string(value))
    if match is None:
        return NAN
    text = match.group(1)
    if _INTEGER.fullmatch(text):
        return int(text)
    return float(text.replace("Infinity", "inf"))


def number_to_string(number: float) -> str:
    """How JavaScript writes a number: ``3.0`` → ``"3"``, ``1e-07`` → ``"1e-7"``."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    return _EXPONENT.sub(r"e\1\2", repr(number))


def to_string(value: Any) -> str:
    """JavaScript's ToString: ``null`` → ``"null"``, ``[1, null]`` → ``"1,"``."""
    if value.__class__ is str:
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_to_string(value)
    if isinstance(value, list):
        return ",".join("" if item is None else to_string(item) for item in value)
    if isinstance(value, str):
        return str(value)
    return "[object Object]"


def _to_primitive(value: Any) -> Any:
    return to_string(value) if isinstance(value, list | dict) else value


def loose_equals(left: Any, right: Any) -> bool:
    """JavaScript's ``==``: ``1 == "1"``, ``0 == false``, ``null == null`` but not ``0``."""
    if left.__class__ is str and right.__class__ is str:
        return bool(left == right)
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool):
        left = int(left)
    if isinstance(right, bool):
        right = int(right)
    if isinstance(left, list | dict) and isinstance(right, list | dict):
        return left is right
    left, right = _to_primitive(left), _to_primitive(right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return bool(to_number(left) == to_number(right))


def strict_equals(left: Any, right: Any) -> bool:
    """JavaScript's ``===``: same type and value; arrays and objects only to themselves."""
    if left.__class__ is str and right.__class__ is str:
        return bool(left == right)
    if isinstance(left, bool) or isinstance(right, bool):
        return left.__class__ is right.__class__ and left == right
    if is_number(left) and is_number(right):
        return bool(left == right)
    if left is None or right is None:
        return left is right
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return left is right


def less_than(left: Any, right: Any) -> bool:
    """JavaScript's ``<``: strings by code point, everything else as numbers."""
    if left.__class__ is right.__class__ and left.__class__ in (int, float, str):
        return bool(left < right)
    left, right = _to_primitive(left), _to_primitive(right)
    if isinstance(left, str) and isinstance(right, str):
        return left < right
    return bool(to_number(left) < to_number(right))


def less_or_equal(left: Any, right: Any) -> bool:
    """JavaScript's ``<=``; false whenever a side is NaN, as in JavaScript."""
    if left.__class__ is right.__class__ and left.__class__ in (int, float, str):
        return bool(left <= right)
    left, right = _to_primitive(left), _to_primitive(right)
    if isinstance(left, str) and isinstance(right, str):
        return left <= right
    return bool(to_number(left) <= to_number(right))


def variant_name(value: Any) -> str:
    """The variant a non-string targeting result names, as flagd reads it.

    flagd writes the result as JSON and strips the quotes: ``true`` names the variant
    ``"true"``, ``2`` the variant ``"2"``.
    """
    if isinstance(value, bool | int | float):
        return to_string(value)
    return json.dumps(value, separators=(",", ":"), default=str).replace('"', "")
