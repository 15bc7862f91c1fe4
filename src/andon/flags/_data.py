"""JsonLogic's data access: ``var``, ``missing``, ``missing_some``.

Compiled by :mod:`andon.flags._jsonlogic`. The context is the data of the root scope.
flagd adds ``$flagd.flagKey``, ``$flagd.timestamp`` and an empty ``targetingKey`` to it
before evaluating; here ``var`` gets those values directly (the flag key even becomes a
constant) instead of copying the caller's context on every call. Inside ``map``,
``filter``, ``reduce``, ``all``, ``none`` and ``some`` the data is the current item, as in
JsonLogic, and nothing is added.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from andon.flags._coercion import to_string
from andon.flags._jsonlogic import Clock, Node, Operator, RuleCompiler, constant

_MISSING: Any = object()


def walk(data: Any, parts: tuple[str, ...], default: Any) -> Any:
    """The value at ``parts`` (``"user.name"`` split) in ``data``, else ``default``.

    As JsonLogic's ``var``: a missing key gives the default, a present null gives null;
    a number indexes a list.
    """
    for part in parts:
        if data.__class__ is dict:
            data = data.get(part, _MISSING)
        elif isinstance(data, list) and part.isdigit():
            index = int(part)
            data = data[index] if index < len(data) else _MISSING
        elif isinstance(data, Mapping):
            data = data.get(part, _MISSING)
        else:
            return default
        if data is _MISSING:
            return default
    return data


def _split(path: Any) -> tuple[str, ...]:
    text = "" if path is None else to_string(path)
    return tuple(text.split(".")) if text else ()


class _Root:
    """What flagd adds to the context of the root scope."""

    __slots__ = ("clock", "flag_key")

    def __init__(self, flag_key: str, clock: Clock) -> None:
        self.flag_key = flag_key
        self.clock = clock

    def flagd(self) -> dict[str, Any]:
        return {"flagKey": self.flag_key, "timestamp": int(self.clock())}

    def enriched(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"targetingKey": "", **data, "$flagd": self.flagd()}

    def lookup(self, data: dict[str, Any], parts: tuple[str, ...], default: Any) -> Any:
        if not parts:
            return self.enriched(data)
        if parts[0] == "$flagd":
            return walk(self.flagd(), parts[1:], default) if len(parts) > 1 else self.flagd()
        if parts[0] == "targetingKey" and "targetingKey" not in data:
            return walk("", parts[1:], default) if len(parts) > 1 else ""
        return walk(data, parts, default)


def lookup(data: Any, path: Any, default: Any, root: _Root | None) -> Any:
    """``{"var": [path, default]}`` with a path known only while evaluating."""
    parts = _split(path)
    if root is not None:
        return root.lookup(data, parts, default)
    return walk(data, parts, default) if parts else data


def _static_var(compiler: RuleCompiler, parts: tuple[str, ...], default: Node, scope: int) -> Node:
    fallback = default.value if default.is_constant else _MISSING
    if scope > 0:
        if not parts:
            return Node(lambda data: data)
        if len(parts) == 1:
            [key] = parts

            def item_key(data: Any) -> Any:
                if data.__class__ is dict:
                    found = data.get(key, _MISSING)
                else:
                    found = walk(data, parts, _MISSING)
                return found if found is not _MISSING else default.run(data)

            return Node(item_key)
        return Node(lambda data: _or_default(walk(data, parts, _MISSING), default, data))
    root = _Root(compiler.flag_key, compiler.clock)
    if parts[:2] == ("$flagd", "flagKey") and len(parts) == 2:
        # flagd overwrites any $flagd the caller sends, so the flag key is a constant.
        return constant(compiler.flag_key)
    if not parts or parts[0] in ("$flagd", "targetingKey"):
        return Node(lambda data: _or_default(root.lookup(data, parts, _MISSING), default, data))
    if len(parts) == 1:
        [key] = parts
        if fallback is not _MISSING:
            # root_key lets ``in`` read the key itself; only when absent means null.
            root_key = key if fallback is None else None
            return Node(lambda data: data.get(key, fallback), root_key=root_key)
        return Node(lambda data: _or_default(data.get(key, _MISSING), default, data))
    if len(parts) == 2 and fallback is not _MISSING:
        outer, inner = parts

        def nested(data: dict[str, Any]) -> Any:
            found = data.get(outer)
            if found.__class__ is dict:
                return found.get(inner, fallback)
            return walk(data, parts, fallback)

        return Node(nested)
    return Node(lambda data: _or_default(walk(data, parts, _MISSING), default, data))


def _or_default(found: Any, default: Node, data: Any) -> Any:
    return default.run(data) if found is _MISSING else found


def compile_var(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
    """``{"var": "a.b"}``, ``{"var": ["a.b", default]}``, ``{"var": ""}`` (all the data)."""
    default = compiler.node(args[1], f"{path}[1]", scope) if len(args) > 1 else constant(None)
    target = args[0] if args else None
    if isinstance(target, dict | list):
        # A computed path: read it while evaluating.
        where = compiler.node(target, f"{path}[0]", scope)
        root = _Root(compiler.flag_key, compiler.clock) if scope == 0 else None
        return Node(lambda data: lookup(data, where.run(data), default.run(data), root))
    return _static_var(compiler, _split(target), default, scope)


def compile_missing(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
    """``{"missing": ["a", "b"]}``: the keys whose value is null, empty or absent."""
    nodes = compiler.arguments(args, path, scope)
    root = _Root(compiler.flag_key, compiler.clock) if scope == 0 else None

    def run(data: Any) -> list[Any]:
        values = [node.run(data) for node in nodes]
        keys = values[0] if values and isinstance(values[0], list) else values
        return [key for key in keys if lookup(data, key, None, root) in (None, "")]

    return Node(run)


def compile_missing_some(compiler: RuleCompiler, args: list[Any], path: str, scope: int) -> Node:
    """``{"missing_some": [1, ["a", "b"]]}``: nothing when enough keys are present, else
    the missing ones."""
    need = compiler.node(args[0] if args else 0, f"{path}[0]", scope)
    keys = compiler.node(args[1] if len(args) > 1 else [], f"{path}[1]", scope)
    root = _Root(compiler.flag_key, compiler.clock) if scope == 0 else None

    def run(data: Any) -> list[Any]:
        wanted = keys.run(data)
        wanted = wanted if isinstance(wanted, list) else [wanted]
        missing = [key for key in wanted if lookup(data, key, None, root) in (None, "")]
        enough = len(wanted) - len(missing) >= need.run(data)
        return [] if enough else missing

    return Node(run)


DATA_OPERATORS: dict[str, Operator] = {
    "missing": compile_missing,
    "missing_some": compile_missing_some,
    "var": compile_var,
}
"""JsonLogic's data-access operators, by name."""
