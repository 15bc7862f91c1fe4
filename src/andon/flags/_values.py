"""JsonLogic's operators on numbers, strings and arrays: ``+``, ``-``, ``*``, ``/``, ``%``,
``min``, ``max``, ``in``, ``cat``, ``substr``, ``merge``, and ``log``.

Compiled by :mod:`andon.flags._jsonlogic`, with json-logic-js's semantics: ``+`` and
``*`` read numbers as parseFloat does (``"2.5px"`` is 2.5), the others as Number does,
``%`` takes the dividend's sign. One deliberate difference: JavaScript answers Infinity or
NaN to a division or a remainder by zero, which JSON cannot carry, so here they fail the
evaluation (the caller's default, reason ERROR).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from andon.flags._coercion import NAN, parse_float, strict_equals, to_number, to_string
from andon.flags._jsonlogic import Node, Operator, RuleCompiler, RuleError, call, constant, eager

log = logging.getLogger("andon.flags")


def _add(*values: Any) -> Any:
    total: Any = 0
    for value in values:
        total += parse_float(value)
    return total


def _multiply(*values: Any) -> Any:
    if not values:
        raise RuleError("'*' needs at least one number")
    product: Any = parse_float(values[0])
    for value in values[1:]:
        product *= parse_float(value)
    return product


def _subtract(*values: Any) -> Any:
    if len(values) == 1:
        return -to_number(values[0])
    first, second = (*values, None, None)[:2]
    return to_number(first) - to_number(second)


def _divide(a: Any = None, b: Any = None) -> float:
    divisor = to_number(b)
    if divisor == 0:
        raise RuleError("'/' divided by zero")
    return to_number(a) / divisor


def _remainder(a: Any = None, b: Any = None) -> Any:
    dividend, divisor = to_number(a), to_number(b)
    if divisor == 0:
        raise RuleError("'%' divided by zero")
    if isinstance(dividend, int) and isinstance(divisor, int):
        # JavaScript's remainder takes the dividend's sign; Python's % the divisor's.
        rest = abs(dividend) % abs(divisor)
        return -rest if dividend < 0 else rest
    return math.fmod(dividend, divisor)


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def extreme(*values: Any) -> Any:
        numbers = [to_number(value) for value in values]
        if not numbers:
            return None
        if any(math.isnan(number) for number in numbers):
            return NAN
        return pick(numbers)

    return extreme


# -- strings and arrays -------------------------------------------------------------------


def contains(needle: Any = None, haystack: Any = None) -> bool:
    """``in``: a substring of a string, or an item (``===``) of an array."""
    if isinstance(haystack, str):
        return to_string(needle) in haystack
    if isinstance(haystack, list):
        return any(strict_equals(needle, item) for item in haystack)
    return False


def compile_in(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
    """``{"in": [x, ["NL", "DE"]]}`` or ``{"in": ["@", email]}``."""
    nodes = compiler.arguments(args, path, scope)
    needle, haystack = (nodes + [constant(None)] * 2)[:2]
    options = haystack.value if haystack.is_constant else None
    strings = isinstance(options, list) and all(option.__class__ is str for option in options)
    if strings and options and not needle.is_constant:
        # A set of strings: one hash lookup; other types are never === to a string.
        choices = frozenset(options)
        key = needle.root_key
        if key is not None:

            def key_in_choices(data: dict[str, Any]) -> bool:
                value = data.get(key)
                if value.__class__ is str:
                    return value in choices
                return _member(value, choices, options)

            return Node(key_in_choices, boolish=True)
        read = needle.run
        return Node(lambda data: _member(read(data), choices, options), boolish=True)
    return call(contains, [needle, haystack], boolish=True)


def _member(value: Any, choices: frozenset[str], options: list[str]) -> bool:
    if value.__class__ is str:
        return value in choices
    return isinstance(value, str) and value in options


def _cat(*values: Any) -> str:
    return "".join("" if value is None else to_string(value) for value in values)


def _substr(source: Any = None, start: Any = 0, length: Any = None) -> str:
    text = to_string(source)
    begin = _integer(start)
    if begin < 0:
        begin = max(len(text) + begin, 0)
    if length is None:
        return text[begin:]
    count = _integer(length)
    rest = text[begin:]
    # A negative length leaves that many characters off the end.
    return rest[: max(len(rest) + count, 0)] if count < 0 else rest[:count]


def _integer(value: Any) -> int:
    number = to_number(value)
    return 0 if math.isnan(number) or math.isinf(number) else int(number)


def _merge(*values: Any) -> list[Any]:
    merged: list[Any] = []
    for value in values:
        if isinstance(value, list):
            merged.extend(value)
        else:
            merged.append(value)
    return merged


def compile_log(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
    """``{"log": value}``: the value, logged at debug level (never folded, so it logs on
    every evaluation)."""
    [node] = compiler.arguments(args[:1] or [None], path, scope)
    read, flag_key = node.run, compiler.flag_key

    def run(data: Any) -> Any:
        value = read(data)
        log.debug("flag %s: log %r", flag_key, value)
        return value

    return Node(run, boolish=node.boolish)


VALUE_OPERATORS: dict[str, Operator] = {
    "%": eager(_remainder, pad=2),
    "*": eager(_multiply),
    "+": eager(_add),
    "-": eager(_subtract),
    "/": eager(_divide, pad=2),
    "cat": eager(_cat),
    "in": compile_in,
    "log": compile_log,
    "max": eager(_extreme(max)),
    "merge": eager(_merge),
    "min": eager(_extreme(min)),
    "substr": eager(_substr),
}
"""JsonLogic's operators on numbers, strings and arrays, by name."""
