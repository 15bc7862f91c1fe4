"""The JsonLogic compiler: a targeting rule becomes a tree of Python closures, once.

:class:`~andon.flags.evaluating.FlagSet` compiles each flag's ``targeting`` when the flag
set is loaded; evaluating a flag then calls one closure with the context and never reads
JSON again. This module holds the compiler, the ``$ref`` resolution to ``$evaluators``
and the helpers operators compile with (:func:`call`, :func:`eager`). The operators are
in :mod:`~andon.flags._data` (``var``, ``missing``), :mod:`~andon.flags._logic`,
:mod:`~andon.flags._values`, :mod:`~andon.flags._iteration` (JsonLogic's) and
:mod:`~andon.flags._flagd` (flagd's); :mod:`andon.flags.loading` hands them to the
compiler as one table.

Problems (an unknown operator, a ``$ref`` to nothing) are collected with their place, as
``(path, message)``, rather than raised, so that a flag set reports all of them at once.

Each operator folds when its arguments are all constants, and the common shapes are
specialised (a context key ``in`` a list of strings, ``==`` against a string, an ``if``
on a comparison), so that a typical rule costs a few closure calls.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

Run = Callable[[Any], Any]
"""A compiled rule: data in, value out."""


class RuleError(Exception):
    """A rule cannot be evaluated on this context (a division by zero, say); the flag
    set answers the caller's default with reason ERROR and this message."""


Clock = Callable[[], float]
"""Seconds since the epoch; ``$flagd.timestamp`` reads it."""

MAX_DEPTH = 100
"""How deep a rule may nest; deeper rules are refused on load rather than exhausting
Python's stack during an evaluation."""

_NOT_CONSTANT: Any = object()


class Node:
    """A compiled piece of a rule and what the compiler knows about it.

    ``value`` holds the result when the piece is a constant (so that operators can fold
    or specialise on it); ``boolish`` says that the result is always True, False or None,
    whose Python truthiness is JsonLogic's, so that ``if`` may test it without
    :func:`~andon.flags._coercion.truthy`; ``root_key`` names the context key when the
    piece is a plain ``{"var": "key"}`` of the root scope, so that ``in`` and ``==`` can
    read the context themselves and save a call.
    """

    __slots__ = ("boolish", "root_key", "run", "value")

    def __init__(
        self,
        run: Run,
        value: Any = _NOT_CONSTANT,
        *,
        boolish: bool = False,
        root_key: str | None = None,
    ) -> None:
        self.run = run
        self.value = value
        self.boolish = boolish
        self.root_key = root_key

    @property
    def is_constant(self) -> bool:
        """Whether the piece gives the same value for every context."""
        return self.value is not _NOT_CONSTANT


def constant(value: Any) -> Node:
    """A piece that always gives ``value``."""
    return Node(lambda _data: value, value, boolish=value is None or isinstance(value, bool))


Operator = Callable[["RuleCompiler", list[Any], str, int], Node]
"""Compiles one operator from its raw arguments, the path of the operator and the scope
depth (0 for the root context); it compiles its arguments itself through
:meth:`RuleCompiler.node`, which lets ``if``, ``and`` and ``map`` decide what runs."""


class RuleCompiler:
    """Compiles the rules of one flag; ``problems`` collects what is wrong with them."""

    def __init__(
        self,
        *,
        flag_key: str,
        operators: Mapping[str, Operator],
        evaluators: Mapping[str, Any],
        broken_evaluators: frozenset[str] = frozenset(),
        clock: Clock,
    ) -> None:
        self.flag_key = flag_key
        self.clock = clock
        self.problems: list[tuple[str, str]] = []
        self._operators = operators
        self._evaluators = evaluators
        self._broken = broken_evaluators
        self._refs: list[str] = []
        self._depth = 0

    def problem(self, path: str, message: str) -> Node:
        """Record a problem at ``path``; the piece compiles to null so that compiling goes
        on and finds the other problems."""
        self.problems.append((path, message))
        return constant(None)

    def node(self, rule: Any, path: str, scope: int) -> Node:
        """Compile ``rule`` found at ``path``, in the scope ``scope`` (0: the context)."""
        if isinstance(rule, list):
            return self._array(rule, path, scope)
        if not isinstance(rule, dict) or len(rule) != 1:
            # JsonLogic: anything but a one-key object is data, returned as it is.
            return constant(rule)
        [(name, args)] = rule.items()
        if name == "$ref":
            return self._ref(args, path, scope)
        operator = self._operators.get(name)
        if operator is None:
            hint = difflib.get_close_matches(name, list(self._operators), n=1)
            also = f" (did you mean '{hint[0]}'?)" if hint else ""
            return self.problem(path, f"unknown operator '{name}'{also}")
        if self._depth >= MAX_DEPTH:
            return self.problem(path, f"the rule nests deeper than {MAX_DEPTH} operators")
        self._depth += 1
        try:
            arguments = args if isinstance(args, list) else [args]
            return operator(self, arguments, f"{path}.{name}", scope)
        finally:
            self._depth -= 1

    def arguments(self, args: list[Any], path: str, scope: int) -> list[Node]:
        """Compile every argument of the operator at ``path``."""
        return [self.node(arg, f"{path}[{index}]", scope) for index, arg in enumerate(args)]

    def _array(self, items: list[Any], path: str, scope: int) -> Node:
        # JsonLogic evaluates the items of an array, so arrays may hold rules.
        nodes = [self.node(item, f"{path}[{index}]", scope) for index, item in enumerate(items)]
        if all(node.is_constant for node in nodes):
            return constant([node.value for node in nodes])
        runs = [node.run for node in nodes]
        return Node(lambda data: [run(data) for run in runs])

    def _ref(self, name: Any, path: str, scope: int) -> Node:
        where = f"{path}.$ref"
        if not isinstance(name, str):
            return self.problem(where, "a $ref names an evaluator of $evaluators, as a string")
        if name not in self._evaluators:
            hint = difflib.get_close_matches(name, list(self._evaluators), n=1)
            also = f" (did you mean '{hint[0]}'?)" if hint else ""
            return self.problem(
                where, f"unknown evaluator '{name}'{also}; shared rules are declared in $evaluators"
            )
        if name in self._broken:
            return self.problem(where, f"evaluator '{name}' is invalid; see $evaluators.{name}")
        if name in self._refs:
            cycle = " → ".join([*self._refs, name])
            return self.problem(where, f"evaluators refer to each other in a cycle: {cycle}")
        self._refs.append(name)
        try:
            return self.node(self._evaluators[name], f"$evaluators.{name}", scope)
        finally:
            self._refs.pop()


def call(function: Callable[..., Any], nodes: list[Node], *, boolish: bool = False) -> Node:
    """A piece that applies ``function`` to the values of ``nodes``; folded when they are
    all constants and the function succeeds on them."""
    if all(node.is_constant for node in nodes):
        try:
            return constant(function(*[node.value for node in nodes]))
        except Exception:  # it fails again when evaluated, as an ERROR there
            pass
    runs = [node.run for node in nodes]
    run: Run
    if len(runs) == 1:
        [only] = runs
        run = lambda data: function(only(data))  # noqa: E731
    elif len(runs) == 2 and nodes[1].is_constant:
        first, second = runs[0], nodes[1].value
        run = lambda data: function(first(data), second)  # noqa: E731
    elif len(runs) == 2:
        first, then = runs
        run = lambda data: function(first(data), then(data))  # noqa: E731
    else:
        run = lambda data: function(*[each(data) for each in runs])  # noqa: E731
    return Node(run, boolish=boolish)


def eager(function: Callable[..., Any], *, boolish: bool = False, pad: int = 0) -> Operator:
    """An operator that evaluates all its arguments, then applies ``function``; ``pad``
    fills missing arguments with null."""

    def compile_(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
        nodes = compiler.arguments(args, path, scope)
        nodes += [constant(None)] * (pad - len(nodes))
        return call(function, nodes, boolish=boolish)

    return compile_
