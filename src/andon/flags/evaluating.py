"""The flag evaluator: a compiled flag set that answers flags for a context, purely.

The flag SDK and the OpenFeature provider evaluate in the service's own process through
:class:`FlagSet`; the server uses the same class for OFREP. Loading compiles every rule
once (:mod:`andon.flags.loading`); evaluating has no side effects, reads the clock only
for rules that use ``$flagd.timestamp``, and never raises into the caller: what goes
wrong is a :class:`~andon.flags.resolutions.Resolution` with reason ERROR and the
caller's default.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from andon.flags._compiled import CompiledFlag, remembered
from andon.flags._jsonlogic import Clock
from andon.flags.loading import compile_flags
from andon.flags.resolutions import ErrorCode, FlagType, Reason, Resolution

if TYPE_CHECKING:  # pragma: no cover - typing only; andon.spec is heavy to import
    from andon.spec.flags import FlagSetSpec

Context = Mapping[str, Any]
"""The evaluation context: attributes of the user or request (``targetingKey``, ...)."""


class FlagSet:
    """Flags ready to evaluate, built by :meth:`from_document` or :meth:`from_spec`.

    Immutable: a new version of the flags is a new FlagSet, so a reader never sees half
    an update.
    """

    __slots__ = ("_booleans", "_flags", "_metadata", "_missing", "_strings")

    def __init__(self, flags: Mapping[str, CompiledFlag], metadata: Mapping[str, Any]) -> None:
        self._flags = dict(flags)
        self._metadata = metadata
        self._missing: dict[Hashable, Resolution[Any]] = {}
        # The flags whose answer needs no type check or copy for a boolean (a string)
        # caller: the typed resolvers answer them with one lookup and one call, the path
        # a service's hot loop takes.
        self._booleans = _answered_as_is(self._flags, FlagType.BOOLEAN)
        self._strings = _answered_as_is(self._flags, FlagType.STRING)

    @classmethod
    def from_document(
        cls,
        document: Mapping[str, Any],
        *,
        clock: Clock = time.time,
        strict: bool = True,
        source: str = "the flag set",
    ) -> FlagSet:
        """Compile a flagd flag-definition document (``flags``, ``$evaluators``,
        ``metadata``).

        ``clock`` gives ``$flagd.timestamp`` (seconds since the epoch). With ``strict``,
        any problem raises :class:`~andon.flags.loading.FlagSetError` naming every one
        with its place; without, as flagd does with the flags it is handed, a broken flag
        answers the caller's default with reason ERROR and code PARSE_ERROR. ``source``
        names the document in messages.
        """
        flags, metadata = compile_flags(document, clock=clock, strict=strict, source=source)
        return cls(flags, metadata)

    @classmethod
    def from_spec(
        cls, spec: FlagSetSpec, *, clock: Clock = time.time, strict: bool = True
    ) -> FlagSet:
        """Compile the ``flags`` section of an andon.yaml, already validated as a model."""
        document = spec.model_dump(mode="json", by_alias=True, exclude={"schema_"})
        return cls.from_document(document, clock=clock, strict=strict, source="flags")

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys of the flags, in the document's order."""
        return tuple(self._flags)

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The flag set's own metadata, read-only."""
        return self._metadata

    def __contains__(self, key: object) -> bool:
        return key in self._flags

    def __iter__(self) -> Iterator[str]:
        return iter(self._flags)

    def __len__(self) -> int:
        return len(self._flags)

    def evaluate(
        self,
        key: str,
        default: Any,
        context: Context | None = None,
        *,
        kind: FlagType | None = None,
    ) -> Resolution[Any]:
        """The answer of flag ``key`` for ``context``. No side effects; never raises.

        ``default`` is the caller's value, served on errors, for a disabled flag and for a
        flag without a default variant. ``kind``, when given, checks the value's type as
        OpenFeature does (TYPE_MISMATCH otherwise).
        """
        flag = self._flags.get(key)
        if flag is None:
            return remembered(
                self._missing,
                (key, default.__class__, default),
                lambda: Resolution(
                    default,
                    None,
                    Reason.ERROR,
                    ErrorCode.FLAG_NOT_FOUND,
                    f"flag '{key}' is not in the flag set",
                    self._metadata,
                ),
            )
        resolution = flag.resolve(default, context)
        if not flag.copies_values and (kind is None or kind in flag.exact_types):
            return resolution
        return flag.answer(resolution, default, kind)

    def resolve_boolean(
        self, key: str, default: bool, context: Context | None = None
    ) -> Resolution[bool]:
        """The boolean value of flag ``key``; TYPE_MISMATCH when it is not a boolean."""
        flag = self._booleans.get(key)
        if flag is not None:
            return flag.resolve(default, context)
        return self.evaluate(key, default, context, kind=FlagType.BOOLEAN)

    def resolve_string(
        self, key: str, default: str, context: Context | None = None
    ) -> Resolution[str]:
        """The string value of flag ``key``; TYPE_MISMATCH when it is not a string."""
        flag = self._strings.get(key)
        if flag is not None:
            return flag.resolve(default, context)
        return self.evaluate(key, default, context, kind=FlagType.STRING)

    def resolve_integer(
        self, key: str, default: int, context: Context | None = None
    ) -> Resolution[int]:
        """The integer value of flag ``key``; an integral float is served as an integer."""
        return self.evaluate(key, default, context, kind=FlagType.INTEGER)

    def resolve_float(
        self, key: str, default: float, context: Context | None = None
    ) -> Resolution[float]:
        """The float value of flag ``key``; an integer is served as a float."""
        return self.evaluate(key, default, context, kind=FlagType.FLOAT)

    def resolve_object(
        self, key: str, default: Any, context: Context | None = None
    ) -> Resolution[Any]:
        """The object (or array) value of flag ``key``, a copy the caller may change."""
        return self.evaluate(key, default, context, kind=FlagType.OBJECT)


def _answered_as_is(flags: Mapping[str, CompiledFlag], kind: FlagType) -> dict[str, CompiledFlag]:
    """The flags whose resolution :meth:`FlagSet.evaluate` returns unchanged for ``kind``."""
    return {
        key: flag
        for key, flag in flags.items()
        if not flag.copies_values and kind in flag.exact_types
    }
