"""JsonLogic's operators over arrays: ``map``, ``filter``, ``reduce``, ``all``, ``none``,
``some``.

Compiled by :mod:`andon.flags._jsonlogic`. The rule applied to each item sees the item as
its data, one scope deeper than the array's own rule; ``reduce``'s sees ``current`` and
``accumulator``. Anything but an array is treated as an empty one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from andon.flags._coercion import truthy
from andon.flags._jsonlogic import Node, Operator, RuleCompiler, Run


def _iteration(shape: Callable[[Run, Run], Run], *, boolish: bool = False) -> Operator:
    def compile_(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
        source = compiler.node(args[0] if args else None, f"{path}[0]", scope)
        # The rule applied to each item sees the item as its data: one scope deeper.
        logic = compiler.node(args[1] if len(args) > 1 else None, f"{path}[1]", scope + 1)
        return Node(shape(source.run, logic.run), boolish=boolish)

    return compile_


def _map(source: Run, logic: Run) -> Run:
    return lambda data: (
        [logic(item) for item in items] if isinstance(items := source(data), list) else []
    )


def _filter(source: Run, logic: Run) -> Run:
    def run(data: Any) -> list[Any]:
        items = source(data)
        if not isinstance(items, list):
            return []
        return [item for item in items if truthy(logic(item))]

    return run


def _all(source: Run, logic: Run) -> Run:
    def run(data: Any) -> bool:
        items = source(data)
        return isinstance(items, list) and bool(items) and all(truthy(logic(i)) for i in items)

    return run


def _some(source: Run, logic: Run) -> Run:
    def run(data: Any) -> bool:
        items = source(data)
        return isinstance(items, list) and any(truthy(logic(item)) for item in items)

    return run


def _none(source: Run, logic: Run) -> Run:
    some = _some(source, logic)
    return lambda data: not some(data)


def compile_reduce(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
    """``{"reduce": [items, logic, initial]}``; the logic sees ``current`` and
    ``accumulator``."""
    source = compiler.node(args[0] if args else None, f"{path}[0]", scope)
    logic = compiler.node(args[1] if len(args) > 1 else None, f"{path}[1]", scope + 1)
    initial = compiler.node(args[2] if len(args) > 2 else None, f"{path}[2]", scope)
    items_of, step, start = source.run, logic.run, initial.run

    def run(data: Any) -> Any:
        items, accumulator = items_of(data), start(data)
        if not isinstance(items, list):
            return accumulator
        for item in items:
            accumulator = step({"current": item, "accumulator": accumulator})
        return accumulator

    return Node(run)


ITERATION_OPERATORS: dict[str, Operator] = {
    "all": _iteration(_all, boolish=True),
    "filter": _iteration(_filter),
    "map": _iteration(_map),
    "none": _iteration(_none, boolish=True),
    "reduce": compile_reduce,
    "some": _iteration(_some, boolish=True),
}
"""JsonLogic's operators over arrays, by name."""
