"""flagd's custom operators: ``fractional``, ``sem_ver``, ``starts_with``, ``ends_with``.

Compiled by :mod:`andon.flags._jsonlogic` like the standard ones. They follow flagd (its
"custom operations" reference and the flagd evaluator test kit): on input they cannot use
(a wrong number of arguments, a version that does not parse, a bucketing key that is not
a string, weights that sum to nothing) they answer null rather than fail, so that the flag
falls back to its default variant, as flagd does.

``fractional`` buckets with :mod:`andon.bucketing`, the one bucketing function of Andon,
so that a flag rollout and the router's sticky split put a user in the same bucket.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Callable
from functools import lru_cache
from itertools import accumulate
from typing import Any

from andon.bucketing import MAX_TOTAL_WEIGHT, bucket_of, flag_bucketing_key, pick
from andon.flags._coercion import is_number, to_string
from andon.flags._jsonlogic import Node, Operator, RuleCompiler, Run, call, constant

# -- fractional ---------------------------------------------------------------------------

Weighted = list[tuple[Any, int]]


def _weight(value: Any) -> int | None:
    if not is_number(value) or math.isnan(value) or math.isinf(value):
        return None
    # Fractions are truncated and negative weights count as 0, as flagd does.
    return max(int(value), 0)


def weighted_buckets(buckets: list[Any]) -> Weighted | None:
    """``[["on", 50], ["off", 50]]`` as ``(variant, weight)`` pairs; a bucket without a
    weight weighs 1. None when a bucket is malformed."""
    weighted: Weighted = []
    for bucket in buckets:
        if not isinstance(bucket, list) or not bucket or isinstance(bucket[0], list | dict):
            return None
        weight = 1 if len(bucket) < 2 else _weight(bucket[1])
        if weight is None:
            return None
        weighted.append((bucket[0], weight))
    return weighted or None


def _fixed_split(seed: Node | None, flag_key: str, weighted: Weighted) -> Run | None:
    """The split of constant buckets, with the layout computed once; None when the
    weights leave no bucket.

    The same answer as :func:`andon.bucketing.pick` (the tests check it), without
    summing the weights on every call: the bucket of :func:`andon.bucketing.bucket_of`
    is looked up among the precomputed running sums.
    """
    total = sum(weight for _, weight in weighted)
    if not 0 < total <= MAX_TOTAL_WEIGHT:
        return None
    ends = list(accumulate(weight for _, weight in weighted))
    names = [name for name, _ in weighted]
    # bisect_right skips zero-weight buckets: their end equals the end before them.
    if seed is None:

        def by_targeting_key(data: dict[str, Any]) -> Any:
            targeting_key = data.get("targetingKey")
            if isinstance(targeting_key, str):
                key = flag_bucketing_key(flag_key, targeting_key)
                return names[bisect_right(ends, bucket_of(key, total))]
            # No targeting key: no bucket, so the flag's default variant (as flagd).
            return None

        return by_targeting_key
    read = seed.run

    def by_seed(data: Any) -> Any:
        key = read(data)
        if isinstance(key, str):
            return names[bisect_right(ends, bucket_of(key, total))]
        return None

    return by_seed


def _bucketing_key(seed: Node | None, flag_key: str) -> Run:
    if seed is None:

        def flag_and_targeting_key(data: dict[str, Any]) -> str | None:
            targeting_key = data.get("targetingKey")
            if isinstance(targeting_key, str):
                return flag_bucketing_key(flag_key, targeting_key)
            return None

        return flag_and_targeting_key
    read = seed.run
    return lambda data: key if isinstance(key := read(data), str) else None


def compile_fractional(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
    """``{"fractional": [key?, [variant, weight?], ...]}``: a sticky weighted split.

    Without a first argument that is not a bucket, the key is the flag key followed by
    the context's ``targetingKey``. Variant names and weights may be rules themselves.
    """
    if not args:
        return constant(None)
    seed: Node | None = None
    offset = 0
    if not isinstance(args[0], list):
        seed, offset = compiler.node(args[0], f"{path}[0]", scope), 1
    elif scope > 0:
        return compiler.problem(
            path,
            "fractional without a bucketing key reads the targeting key, which only the top "
            "level of a rule sees; give the key as the first argument",
        )
    buckets = [
        compiler.node(arg, f"{path}[{index}]", scope)
        for index, arg in enumerate(args[offset:], start=offset)
    ]
    if all(bucket.is_constant for bucket in buckets):
        weighted = weighted_buckets([bucket.value for bucket in buckets])
        split = _fixed_split(seed, compiler.flag_key, weighted) if weighted else None
        if split is None:
            return constant(None)
        boolish = all(name is None or isinstance(name, bool) for name, _ in weighted or ())
        return Node(split, boolish=boolish)
    key_of = _bucketing_key(seed, compiler.flag_key)
    runs = [bucket.run for bucket in buckets]

    def computed_split(data: Any) -> Any:
        key = key_of(data)
        if key is None:
            return None
        weighted = weighted_buckets([run(data) for run in runs])
        return None if weighted is None else pick(key, weighted)

    return Node(computed_split)


# -- sem_ver ------------------------------------------------------------------------------

Version = tuple[int, int, int, tuple[Any, ...]]

_SEMVER = re.compile(
    r"[vV]?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)


def parse_version(value: Any) -> Version | None:
    """A comparable semantic version, or None when ``value`` is not one.

    As flagd: a ``v``/``V`` prefix is dropped, ``1`` and ``1.2`` are padded with ``.0``,
    a number (``1.2``) is read as its text, and build metadata (``+build``) is ignored.
    Pre-releases sort before their release, by SemVer 2.0's precedence.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = to_string(value)
    return _parse_version(value) if isinstance(value, str) else None


@lru_cache(maxsize=4096)
def _parse_version(text: str) -> Version | None:
    match = _SEMVER.fullmatch(text)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    if pre is None:
        # A release sorts after any of its pre-releases.
        return int(major), int(minor or 0), int(patch or 0), (1,)
    identifiers: list[tuple[int, Any]] = []
    for identifier in pre.split("."):
        if identifier.isdigit():
            if len(identifier) > 1 and identifier.startswith("0"):
                return None
            identifiers.append((0, int(identifier)))
        else:
            identifiers.append((1, identifier))
    return int(major), int(minor or 0), int(patch or 0), (0, tuple(identifiers))


_VERSION_TESTS: dict[str, Callable[[Version, Version], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "^": lambda a, b: a[0] == b[0],
    "~": lambda a, b: a[:2] == b[:2],
}


def _sem_ver(actual: Any, operator: Any, target: Any) -> bool | None:
    test = _VERSION_TESTS.get(operator) if isinstance(operator, str) else None
    left, right = parse_version(actual), parse_version(target)
    if test is None or left is None or right is None:
        return None
    return test(left, right)


def compile_sem_ver(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
    """``{"sem_ver": [version, "^", "1.2.0"]}``: =, !=, <, <=, >, >=, ^ (same major),
    ~ (same major and minor)."""
    nodes = compiler.arguments(args, path, scope)
    if len(nodes) != 3:
        return constant(None)
    actual, operator, target = nodes
    if not (operator.is_constant and target.is_constant) or actual.is_constant:
        return call(_sem_ver, nodes, boolish=True)
    test = _VERSION_TESTS.get(operator.value) if isinstance(operator.value, str) else None
    wanted = parse_version(target.value)
    if test is None or wanted is None:
        return constant(None)
    read = actual.run

    def against_target(data: Any) -> bool | None:
        version = parse_version(read(data))
        return None if version is None else test(version, wanted)

    return Node(against_target, boolish=True)


# -- starts_with, ends_with ---------------------------------------------------------------


def _affix(test: Callable[[str, str], bool]) -> Operator:
    def compile_(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
        nodes = compiler.arguments(args, path, scope)
        if len(nodes) != 2:
            return constant(None)

        def check(text: Any, affix: Any) -> bool | None:
            if isinstance(text, str) and isinstance(affix, str):
                return test(text, affix)
            return None

        return call(check, nodes, boolish=True)

    return compile_


FLAGD_OPERATORS: dict[str, Operator] = {
    "ends_with": _affix(str.endswith),
    "fractional": compile_fractional,
    "sem_ver": compile_sem_ver,
    "starts_with": _affix(str.startswith),
}
"""flagd's custom operators, by name."""
