"""A compiled flag: what one flag answers for a context, with every answer that does not
depend on the caller built once.

:mod:`andon.flags.loading` builds one of these per flag of a flag set;
:class:`~andon.flags.evaluating.FlagSet` calls :meth:`CompiledFlag.resolve`. A static
flag returns its one :class:`Resolution` as it is; a targeted flag calls its compiled
rule and looks the chosen variant up among precomputed resolutions, so that the common
evaluation allocates nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Mapping
from dataclasses import replace
from typing import Any

from andon.flags._coercion import variant_name
from andon.flags._jsonlogic import Run
from andon.flags.resolutions import ErrorCode, FlagType, Reason, Resolution

REMEMBERED = 64
"""How many answers that carry a caller's default a flag keeps, one per distinct default."""


def remembered(
    memory: dict[Hashable, Resolution[Any]], key: Hashable, build: Callable[[], Resolution[Any]]
) -> Resolution[Any]:
    """The answer ``build`` makes for ``key``, made once while ``memory`` has room.

    Callers pass the same few defaults (False, "", 0) call after call; remembering their
    answers spares a disabled flag, a missing flag or a flag without default variant from
    building a Resolution on every evaluation. A default that cannot be hashed (a dict)
    gets a fresh answer each time.
    """
    try:
        found = memory.get(key)
    except TypeError:
        return build()
    if found is None:
        found = build()
        if len(memory) < REMEMBERED:
            memory[key] = found
    return found


def exact_types(values: list[Any]) -> frozenset[FlagType]:
    """The flag types that every one of ``values`` has as it is, without conversion."""
    checks = {
        FlagType.BOOLEAN: lambda value: value.__class__ is bool,
        FlagType.STRING: lambda value: isinstance(value, str),
        FlagType.INTEGER: lambda value: isinstance(value, int) and value.__class__ is not bool,
        FlagType.FLOAT: lambda value: isinstance(value, float),
        FlagType.OBJECT: lambda value: isinstance(value, dict | list),
    }
    return frozenset(kind for kind, check in checks.items() if all(map(check, values)))


class CompiledFlag:
    """A flag ready to evaluate. This base answers the caller's default with a fixed
    reason (a disabled flag, a flag whose definition is broken)."""

    __slots__ = (
        "callers",
        "copies_values",
        "error_code",
        "exact_types",
        "key",
        "message",
        "metadata",
        "reason",
    )

    def __init__(
        self,
        key: str,
        *,
        metadata: Mapping[str, Any],
        variants: Mapping[str, Any],
        reason: Reason = Reason.DISABLED,
        error_code: ErrorCode | None = None,
        message: str | None = None,
    ) -> None:
        self.key = key
        self.metadata = metadata
        self.reason = reason
        self.error_code = error_code
        self.message = message
        self.exact_types = exact_types(list(variants.values()))
        # Object values are shared by the precomputed results: hand each caller a copy,
        # so that one caller changing its dict cannot change what the next one gets.
        self.copies_values = any(isinstance(value, dict | list) for value in variants.values())
        self.callers: dict[Hashable, Resolution[Any]] = {}

    def resolve(self, default: Any, context: Any) -> Resolution[Any]:
        """The answer for ``context``; ``default`` is the caller's value. Never raises."""
        return self.callers_default(default)

    def callers_default(self, default: Any) -> Resolution[Any]:
        """The caller's ``default`` with this flag's fixed reason, error code and message."""
        return remembered(
            self.callers,
            (default.__class__, default),
            lambda: Resolution(
                default, None, self.reason, self.error_code, self.message, self.metadata
            ),
        )

    def answer(
        self, resolution: Resolution[Any], default: Any, kind: FlagType | None
    ) -> Resolution[Any]:
        """``resolution`` as the caller may keep it: a copy of an object value, and the
        value checked against the ``kind`` the caller asked for (OpenFeature's rules: an
        integral float serves an integer, an integer a float)."""
        if resolution.variant is None:
            return resolution
        if self.copies_values:
            resolution = replace(resolution, value=copy.deepcopy(resolution.value))
        if kind is None or kind in self.exact_types:
            return resolution
        value = resolution.value
        if kind == FlagType.INTEGER and isinstance(value, float) and value.is_integer():
            return replace(resolution, value=int(value))
        if kind == FlagType.FLOAT and isinstance(value, int) and value.__class__ is not bool:
            return replace(resolution, value=float(value))
        if kind in exact_types([value]):
            return resolution
        return Resolution(
            default,
            None,
            Reason.ERROR,
            ErrorCode.TYPE_MISMATCH,
            f"flag '{self.key}' answered {type(value).__name__} {value!r}, not the "
            f"{kind.lower()} the caller asked for",
            self.metadata,
        )


class StaticFlag(CompiledFlag):
    """A flag without targeting: its default variant for everyone, reason STATIC."""

    __slots__ = ("static",)

    def __init__(self, key: str, *, static: Resolution[Any] | None, **common: Any) -> None:
        super().__init__(key, reason=Reason.DEFAULT, **common)
        self.static = static

    def resolve(self, default: Any, context: Any) -> Resolution[Any]:
        """The default variant, or the caller's default (reason DEFAULT) when the flag
        names no default variant."""
        if self.static is not None:
            return self.static
        return self.callers_default(default)


class TargetedFlag(CompiledFlag):
    """A flag whose compiled targeting rule chooses the variant."""

    __slots__ = ("matches", "on_null", "rule")

    def __init__(
        self,
        key: str,
        *,
        rule: Run,
        matches: Mapping[str, Resolution[Any]],
        on_null: Resolution[Any] | None,
        **common: Any,
    ) -> None:
        super().__init__(key, reason=Reason.DEFAULT, **common)
        self.rule = rule
        self.matches = matches
        self.on_null = on_null

    def resolve(self, default: Any, context: Any) -> Resolution[Any]:
        """The variant the rule chooses (TARGETING_MATCH); the default variant when it
        chooses null (DEFAULT); the caller's default with reason ERROR when the context
        is not a mapping, the rule fails, or it names a variant the flag lacks."""
        if context.__class__ is not dict:
            if context is None:
                context = {}
            elif isinstance(context, Mapping):
                context = dict(context)
            else:
                return self._error(
                    default,
                    ErrorCode.INVALID_CONTEXT,
                    "the evaluation context is a mapping of attribute names to values, "
                    f"not {type(context).__name__}",
                )
        try:
            chosen = self.rule(context)
        except Exception as error:  # an evaluation never raises into the caller
            return self._error(
                default,
                ErrorCode.GENERAL,
                f"the targeting of flag '{self.key}' failed on this context: {error}",
            )
        if chosen.__class__ is str:
            found = self.matches.get(chosen)
            if found is not None:
                return found
        elif chosen is None:
            if self.on_null is not None:
                return self.on_null
            return self.callers_default(default)
        else:
            # flagd reads true as the variant "true", 2 as "2".
            chosen = variant_name(chosen)
            found = self.matches.get(chosen)
            if found is not None:
                return found
        return self._error(
            default,
            ErrorCode.GENERAL,
            f"the targeting of flag '{self.key}' chose the variant '{chosen}', which the "
            "flag does not define",
        )

    def _error(self, default: Any, code: ErrorCode, message: str) -> Resolution[Any]:
        return Resolution(default, None, Reason.ERROR, code, message, self.metadata)
