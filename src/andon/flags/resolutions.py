"""What a flag evaluation answers: the value, the variant, a reason and an error code.

The vocabulary is OpenFeature's, so that the OpenFeature provider, OFREP and the SDK hand
it on as it is. :class:`~andon.flags.evaluating.FlagSet` builds these results; callers of
the SDK, the provider and the server's OFREP routes read them. An evaluation never raises:
whatever goes wrong shows as ``reason=ERROR`` with an :class:`ErrorCode` and a message,
and the value is then the caller's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Generic, TypeVar

T = TypeVar("T")

NO_METADATA: Mapping[str, Any] = MappingProxyType({})
"""The metadata of a flag that has none; read-only, shared by every result."""


class Reason(StrEnum):
    """Why an evaluation answered as it did (OpenFeature's resolution reasons)."""

    STATIC = "STATIC"
    """The flag has no targeting: its default variant, the same for everyone."""
    TARGETING_MATCH = "TARGETING_MATCH"
    """The targeting rule chose a variant for this context."""
    SPLIT = "SPLIT"
    """A pseudorandom split chose the variant (flagd reports TARGETING_MATCH instead)."""
    DEFAULT = "DEFAULT"
    """The rule chose nothing (null): the default variant, or the caller's default."""
    DISABLED = "DISABLED"
    """The flag is disabled: the caller's default."""
    CACHED = "CACHED"
    """A cached answer (used by remote providers)."""
    STALE = "STALE"
    """An answer from flags that may be out of date (used by the SDK when offline)."""
    UNKNOWN = "UNKNOWN"
    """No reason given."""
    ERROR = "ERROR"
    """Something went wrong; ``error_code`` says what, and the value is the caller's."""


class ErrorCode(StrEnum):
    """What went wrong in an evaluation (OpenFeature's error codes)."""

    PROVIDER_NOT_READY = "PROVIDER_NOT_READY"
    PROVIDER_FATAL = "PROVIDER_FATAL"
    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    PARSE_ERROR = "PARSE_ERROR"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    GENERAL = "GENERAL"


class FlagType(StrEnum):
    """The type a caller asks a flag's value to have (OpenFeature's flag types)."""

    BOOLEAN = "BOOLEAN"
    STRING = "STRING"
    INTEGER = "INTEGER"
    FLOAT = "FLOAT"
    OBJECT = "OBJECT"


@dataclass(frozen=True, slots=True)
class Resolution(Generic[T]):
    """The answer of one evaluation.

    Results that do not depend on the caller (a static flag, a variant chosen by
    targeting) are built once when the flag set is loaded and shared between calls, so
    treat a resolution and its ``flag_metadata`` as read-only.
    """

    value: T
    """The flag's value, or the caller's default when ``reason`` is ERROR or DISABLED."""
    variant: str | None
    """The name of the chosen variant; None when the value is the caller's default."""
    reason: Reason
    """Why the evaluation answered as it did."""
    error_code: ErrorCode | None = None
    """What went wrong, when ``reason`` is ERROR."""
    error_message: str | None = None
    """A sentence on what went wrong, for logs."""
    flag_metadata: Mapping[str, Any] = field(default_factory=lambda: NO_METADATA)
    """The flag set's and the flag's metadata (the flag's win), read-only."""

    @property
    def is_error(self) -> bool:
        """Whether the evaluation failed and the value is the caller's default."""
        return self.error_code is not None
