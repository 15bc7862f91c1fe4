"""How two environments differ (``andon env diff A B``): the version and artifact they
run, their config values, which secrets they have (never a value: only whether each is
set and whether the two hold the same one), their instance counts and the schema
version of their databases. Everything here is pure.

The environments API builds an :class:`EnvironmentSnapshot` of each and calls
:func:`assess_difference`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DifferenceKind(StrEnum):
    """What differs."""

    VERSION = "version"
    ARTIFACT = "artifact"
    VALUE = "value"
    SECRET = "secret"
    INSTANCES = "instances"
    SCHEMA = "schema"


@dataclass(frozen=True, slots=True)
class EnvironmentSnapshot:
    """What is compared of one environment."""

    name: str
    version: str | None = None
    artifact: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    """The config values its templates are rendered with, secrets left out."""
    secrets: Mapping[str, str] = field(default_factory=dict)
    """The fingerprint of each secret that is set, by name."""
    instances: Mapping[str, int] = field(default_factory=dict)
    """Instances declared, by process."""
    schema: str | None = None
    """The last migration its database applied; None when that cannot be seen."""


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the two differ, with what each has and a sentence."""

    kind: DifferenceKind
    subject: str
    left: Any
    right: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, for the API."""
        return {
            "kind": self.kind.value,
            "subject": self.subject,
            "left": self.left,
            "right": self.right,
            "message": self.message,
        }


def assess_difference(left: EnvironmentSnapshot, right: EnvironmentSnapshot) -> list[Difference]:
    """Every difference between ``left`` and ``right``, in a fixed order (version,
    artifact, values by key, secrets, instances by process, schema); no side effects.
    Secret values never appear, not even as fingerprints."""
    a, b = left.name, right.name
    found: list[Difference] = []
    if left.version != right.version:
        message = f"{a} runs {_short(left.version)}, {b} runs {_short(right.version)}"
        found.append(
            Difference(DifferenceKind.VERSION, "version", left.version, right.version, message)
        )
    if left.artifact != right.artifact:
        message = f"{a} runs artifact {_short(left.artifact)}, {b} {_short(right.artifact)}"
        found.append(
            Difference(DifferenceKind.ARTIFACT, "artifact", left.artifact, right.artifact, message)
        )
    found += _values(a, b, _flat(left.values), _flat(right.values))
    found += _secrets(a, b, left.secrets, right.secrets)
    for process in sorted(set(left.instances) | set(right.instances)):
        x, y = left.instances.get(process, 0), right.instances.get(process, 0)
        if x != y:
            message = f"{process}: {a} runs {x} instance(s), {b} runs {y}"
            found.append(Difference(DifferenceKind.INSTANCES, process, x, y, message))
    if left.schema != right.schema:
        message = f"the database of {a} is at {left.schema or 'no migration'}, of {b} at "
        message += right.schema or "no migration"
        found.append(
            Difference(DifferenceKind.SCHEMA, "schema", left.schema, right.schema, message)
        )
    return found


def _values(a: str, b: str, left: dict[str, Any], right: dict[str, Any]) -> list[Difference]:
    found = []
    missing = object()
    for key in sorted(set(left) | set(right)):
        x, y = left.get(key, missing), right.get(key, missing)
        if x == y:
            continue
        if x is missing:
            message = f"{key} is set only in {b}: {y!r}"
        elif y is missing:
            message = f"{key} is set only in {a}: {x!r}"
        else:
            message = f"{key}: {x!r} in {a}, {y!r} in {b}"
        found.append(
            Difference(
                DifferenceKind.VALUE,
                key,
                None if x is missing else x,
                None if y is missing else y,
                message,
            )
        )
    return found


def _secrets(a: str, b: str, left: Mapping[str, str], right: Mapping[str, str]) -> list[Difference]:
    found = []
    for name in sorted(set(left) | set(right)):
        x, y = name in left, name in right
        if x and y and left[name] == right[name]:
            continue
        if x and y:
            message = f"secret {name} holds another value in {a} than in {b} (values are not shown)"
            state = ("set", "set")
        elif x:
            message = f"secret {name} is set in {a}, not in {b}"
            state = ("set", "not set")
        else:
            message = f"secret {name} is set in {b}, not in {a}"
            state = ("not set", "set")
        found.append(Difference(DifferenceKind.SECRET, name, state[0], state[1], message))
    return found


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: ``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flat(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _short(text: str | None) -> str:
    if text is None:
        return "nothing"
    return text.removeprefix("sha256:")[:12]
