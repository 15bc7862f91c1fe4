"""Loading a flagd flag-definition document: validate it, compile every flag, once.

:meth:`andon.flags.FlagSet.from_document` calls :func:`compile_flags`. Every problem is
collected with its place (``flags.new-checkout.targeting.if[0]: unknown operator 'inn'``)
and, in strict mode, raised together as a :class:`FlagSetError`. In lenient mode, the way
flagd serves a flag set it was handed, a broken flag still loads and answers the caller's
default with reason ERROR and code PARSE_ERROR, and the other flags work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from andon.errors import SpecError
from andon.flags._compiled import CompiledFlag, StaticFlag, TargetedFlag
from andon.flags._data import DATA_OPERATORS
from andon.flags._flagd import FLAGD_OPERATORS
from andon.flags._iteration import ITERATION_OPERATORS
from andon.flags._jsonlogic import Clock, Operator, RuleCompiler
from andon.flags._logic import LOGIC_OPERATORS
from andon.flags._values import VALUE_OPERATORS
from andon.flags.resolutions import NO_METADATA, ErrorCode, Reason, Resolution

OPERATORS: Mapping[str, Operator] = MappingProxyType(
    {
        **DATA_OPERATORS,
        **LOGIC_OPERATORS,
        **VALUE_OPERATORS,
        **ITERATION_OPERATORS,
        **FLAGD_OPERATORS,
    }
)
"""Every operator a targeting rule may use: JsonLogic's and flagd's."""

_STATES = ("ENABLED", "DISABLED")

Problems = list[tuple[str, str]]


class FlagSetError(SpecError):
    """A flag set cannot be loaded; ``places`` holds each ``(path, message)``.

    A :class:`~andon.errors.SpecError`, so that the CLI and the API show its problems as
    they show andon.yaml's; flag documents carry no line numbers, so the lines name the
    path alone.
    """

    code = "invalid_flags"

    def __init__(self, problems: Sequence[tuple[str, str]], *, source: str = "the flag set"):
        # andon.spec takes a fifth of a second to import; a service using the flag SDK
        # pays it only when its flags are broken.
        from andon.spec.problems import Problem  # noqa: PLC0415

        super().__init__([Problem(0, 0, path, message) for path, message in problems], path=source)
        self.places = list(problems)
        count = len(self.places)
        noun, them = ("problem", "it") if count == 1 else ("problems", "them")
        self.message = f"{source} has {count} {noun}; fix {them} and load it again: " + "; ".join(
            self.lines()
        )
        self.args = (self.message,)

    def lines(self) -> list[str]:
        """One ``path: message`` line per problem."""
        return [f"{path}: {message}" if path else message for path, message in self.places]


def _metadata(value: Any, path: str, problems: Problems) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(item, str | int | float | bool) for item in value.values()
    ):
        problems.append((path, "metadata maps names to strings, numbers or booleans"))
        return {}
    return dict(value)


def _broken_evaluators(evaluators: Mapping[str, Any], clock: Clock, problems: Problems) -> set[str]:
    broken = set()
    for name, rule in evaluators.items():
        compiler = RuleCompiler(
            flag_key="", operators=OPERATORS, evaluators=evaluators, clock=clock
        )
        if not isinstance(rule, Mapping):
            compiler.problem(f"$evaluators.{name}", "an evaluator is a JsonLogic rule (an object)")
        else:
            compiler.node(rule, f"$evaluators.{name}", 0)
        if compiler.problems:
            broken.add(name)
            problems.extend(compiler.problems)
    return broken


def compile_flags(
    document: Any, *, clock: Clock, strict: bool = True, source: str = "the flag set"
) -> tuple[dict[str, CompiledFlag], Mapping[str, Any]]:
    """The compiled flags of a flagd ``document``, by key, and the flag set's metadata.

    Raises :class:`FlagSetError` with every problem; in lenient mode (``strict=False``)
    only when the document as a whole is unusable.
    """
    problems: Problems = []
    if not isinstance(document, Mapping):
        raise FlagSetError([("", "a flag set is a JSON object with 'flags'")], source=source)
    flags = document.get("flags")
    if not isinstance(flags, Mapping):
        problems.append(("flags", "a flag set has a 'flags' object of flags by key"))
    evaluators = document.get("$evaluators") or {}
    if not isinstance(evaluators, Mapping):
        problems.append(("$evaluators", "$evaluators maps names to JsonLogic rules"))
        evaluators = {}
    set_metadata = _metadata(document.get("metadata"), "metadata", problems)
    if problems:
        raise FlagSetError(problems, source=source)
    assert isinstance(flags, Mapping)
    broken = frozenset(_broken_evaluators(evaluators, clock, problems))
    compiled: dict[str, CompiledFlag] = {}
    for key, definition in flags.items():
        found: Problems = []
        metadata = {k: v for k, v in set_metadata.items() if not k.startswith("$")}
        if isinstance(definition, Mapping):
            metadata.update(_metadata(definition.get("metadata"), f"flags.{key}.metadata", found))
        frozen = MappingProxyType(metadata) if metadata else NO_METADATA
        flag = _compile_flag(
            key,
            definition,
            metadata=frozen,
            evaluators=evaluators,
            broken=broken,
            clock=clock,
            problems=found,
        )
        if found:
            problems.extend(found)
            path, message = found[0]
            flag = CompiledFlag(
                key,
                metadata=frozen,
                variants={},
                reason=Reason.ERROR,
                error_code=ErrorCode.PARSE_ERROR,
                message=f"flag '{key}' cannot be evaluated: {path}: {message}",
            )
        compiled[key] = flag
    if problems and strict:
        raise FlagSetError(list(dict.fromkeys(problems)), source=source)
    flag_set_metadata = MappingProxyType(set_metadata) if set_metadata else NO_METADATA
    return compiled, flag_set_metadata


def _compile_flag(
    key: str,
    definition: Any,
    *,
    metadata: Mapping[str, Any],
    evaluators: Mapping[str, Any],
    broken: frozenset[str],
    clock: Clock,
    problems: Problems,
) -> CompiledFlag:
    where = f"flags.{key}"
    if not isinstance(definition, Mapping):
        problems.append((where, "a flag is an object with state, variants and defaultVariant"))
        return CompiledFlag(key, metadata=metadata, variants={})
    state = definition.get("state", "ENABLED")
    if state not in _STATES:
        problems.append((f"{where}.state", f"state is ENABLED or DISABLED, not {state!r}"))
    variants = definition.get("variants")
    if not isinstance(variants, Mapping) or not variants:
        problems.append((f"{where}.variants", "variants name one or more values, as an object"))
        variants = {}
    default_variant = definition.get("defaultVariant")
    if default_variant is not None and (
        not isinstance(default_variant, str) or default_variant not in variants
    ):
        known = ", ".join(variants)
        problems.append(
            (
                f"{where}.defaultVariant",
                f"defaultVariant {default_variant!r} is not one of the variants ({known}); "
                "name one of them, or null to serve the caller's default",
            )
        )
    targeting = definition.get("targeting")
    rule = None
    if targeting is not None and not isinstance(targeting, Mapping):
        problems.append((f"{where}.targeting", "targeting is a JsonLogic rule (an object)"))
    elif targeting:
        compiler = RuleCompiler(
            flag_key=key,
            operators=OPERATORS,
            evaluators=evaluators,
            broken_evaluators=broken,
            clock=clock,
        )
        rule = compiler.node(dict(targeting), f"{where}.targeting", 0).run
        problems.extend(compiler.problems)
    common: dict[str, Any] = {"metadata": metadata, "variants": variants}
    if problems or state == "DISABLED":
        return CompiledFlag(key, **common)

    def answer(variant: str, reason: Reason) -> Resolution[Any]:
        return Resolution(variants[variant], variant, reason, flag_metadata=metadata)

    if rule is None:
        static = answer(default_variant, Reason.STATIC) if default_variant is not None else None
        return StaticFlag(key, static=static, **common)
    return TargetedFlag(
        key,
        rule=rule,
        matches={name: answer(name, Reason.TARGETING_MATCH) for name in variants},
        on_null=answer(default_variant, Reason.DEFAULT) if default_variant is not None else None,
        **common,
    )
