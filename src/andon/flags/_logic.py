"""JsonLogic's logic and comparison: ``if``/``?:``, ``and``, ``or``, ``!``, ``!!``, ``==``,
``===``, ``!=``, ``!==``, ``<``, ``<=``, ``>``, ``>=``.

Compiled by :mod:`andon.flags._jsonlogic`, with json-logic-js's semantics: JavaScript
truthiness (an empty array is false), ``and``/``or`` answering an operand, ``<`` and
``<=`` with a "between" form of three arguments, loose and strict equality.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from andon.flags._coercion import less_or_equal, less_than, loose_equals, strict_equals, truthy
from andon.flags._jsonlogic import Node, Operator, RuleCompiler, call, constant


def _choice(condition: Node, yes: Node, no: Node) -> Node:
    if condition.is_constant:
        return yes if truthy(condition.value) else no
    test = read = condition.run
    if not condition.boolish:
        test = lambda data: truthy(read(data))  # noqa: E731
    boolish = yes.boolish and no.boolish
    if yes.is_constant and no.is_constant:
        when, otherwise = yes.value, no.value
        return Node(lambda data: when if test(data) else otherwise, boolish=boolish)
    if yes.is_constant:
        when, other = yes.value, no.run
        return Node(lambda data: when if test(data) else other(data), boolish=boolish)
    if no.is_constant:
        then, otherwise = yes.run, no.value
        return Node(lambda data: then(data) if test(data) else otherwise, boolish=boolish)
    then, other = yes.run, no.run
    return Node(lambda data: then(data) if test(data) else other(data), boolish=boolish)


def compile_if(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
    """``{"if": [cond, yes, cond2, yes2, ..., else]}``; no else answers null."""
    nodes = compiler.arguments(args, path, scope)
    if len(nodes) < 2:
        return nodes[0] if nodes else constant(None)
    if len(nodes) % 2 == 0:
        nodes.append(constant(None))
    # if [c1, v1, c2, v2, e] is if [c1, v1, if [c2, v2, e]]: fold from the right.
    result = nodes[-1]
    for index in range(len(nodes) - 3, -1, -2):
        result = _choice(nodes[index], nodes[index + 1], result)
    return result


def _junction(stop_on_true: bool) -> Operator:
    def compile_(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
        nodes = compiler.arguments(args, path, scope)
        if len(nodes) < 2:
            return nodes[0] if nodes else constant(None)
        runs = [node.run for node in nodes]
        # True, False and None have JsonLogic's truthiness in Python too.
        test = bool if all(node.boolish for node in nodes) else truthy

        def run(data: Any) -> Any:
            value = None
            for each in runs:
                value = each(data)
                if test(value) is stop_on_true:
                    return value
            return value

        return Node(run, boolish=all(node.boolish for node in nodes))

    return compile_


def compile_not(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
    """``{"!": value}``: whether the value is falsy."""
    [node] = compiler.arguments(args[:1] or [None], path, scope)
    if node.boolish:
        return call(lambda value: not value, [node], boolish=True)
    return call(lambda value: not truthy(value), [node], boolish=True)


def compile_truthy(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
    """``{"!!": value}``: whether the value is truthy."""
    [node] = compiler.arguments(args[:1] or [None], path, scope)
    return call(truthy, [node], boolish=True)


# -- comparison ---------------------------------------------------------------------------


def _equality(strict: bool, negate: bool) -> Operator:
    equals = strict_equals if strict else loose_equals

    def compile_(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
        nodes = compiler.arguments(args, path, scope)
        left, right = (nodes + [constant(None)] * 2)[:2]
        if left.is_constant and not right.is_constant:
            left, right = right, left
        if right.is_constant and isinstance(right.value, str) and not left.is_constant:
            # The usual rule: a context value == a string.
            read, text = left.run, right.value

            def against_text(data: Any) -> bool:
                value = read(data)
                same = value == text if value.__class__ is str else equals(value, text)
                return same is not negate

            return Node(against_text, boolish=True)
        if negate:
            return call(lambda a, b: not equals(a, b), [left, right], boolish=True)
        return call(equals, [left, right], boolish=True)

    return compile_


def _greater(a: Any = None, b: Any = None) -> bool:
    return less_than(b, a)


def _greater_or_equal(a: Any = None, b: Any = None) -> bool:
    return less_or_equal(b, a)


def _ordering(binary: Callable[[Any, Any], bool]) -> Operator:
    def compile_(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
        nodes = compiler.arguments(args, path, scope)
        if len(nodes) == 3:
            # {"<": [low, x, high]}: x between low and high.
            return call(lambda a, b, c: binary(a, b) and binary(b, c), nodes, boolish=True)
        nodes = (nodes + [constant(None)] * 2)[:2]
        return call(binary, nodes, boolish=True)

    return compile_


LOGIC_OPERATORS: dict[str, Operator] = {
    "!": compile_not,
    "!!": compile_truthy,
    "!=": _equality(strict=False, negate=True),
    "!==": _equality(strict=True, negate=True),
    "<": _ordering(less_than),
    "<=": _ordering(less_or_equal),
    "==": _equality(strict=False, negate=False),
    "===": _equality(strict=True, negate=False),
    ">": _ordering(_greater),
    ">=": _ordering(_greater_or_equal),
    "?:": compile_if,
    "and": _junction(stop_on_true=False),
    "if": compile_if,
    "or": _junction(stop_on_true=True),
}
"""JsonLogic's logic and comparison operators, by name."""
