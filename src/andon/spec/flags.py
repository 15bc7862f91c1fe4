"""Feature flags (``flags``) in the flagd flag-definition format, written as YAML.

The section is a flagd document as it stands (``flags``, ``$evaluators``, ``metadata``),
so that ``andon flags export`` hands flagd, or any OpenFeature tool, the same text; beside
them, Andon's own ``guards`` and ``experiments`` (:mod:`andon.spec.flag_guards`), which
:meth:`FlagSetSpec.flagd_document` leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from andon.spec._base import SpecModel
from andon.spec.flag_guards import ExperimentSpec, GuardSpec


class FlagState(StrEnum):
    """Whether a flag is evaluated; a disabled flag answers with reason DISABLED."""

    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


def variant_type(value: Any) -> str:
    """The flagd type of a variant value: boolean, string, number or object."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict | list):
        return "object"
    return "null"


def variant_problems(variants: Mapping[str, Any], default_variant: Any) -> list[str]:
    """What is wrong with a flag's variants and default, as sentences. No side effects.

    The model checks a flag with it; the loader's cross-field checks call it too, so that
    the problems show even while another field of the flag is invalid.
    """
    problems = []
    kinds = {variant_type(value) for value in variants.values()}
    if "null" in kinds:
        problems.append("a variant's value is a boolean, string, number or object, not null")
    elif len(kinds) > 1:
        problems.append(f"all variants of a flag have one type; found {', '.join(sorted(kinds))}")
    if isinstance(default_variant, str) and default_variant not in variants:
        known = ", ".join(variants)
        problems.append(f"defaultVariant '{default_variant}' is not one of the variants ({known})")
    return problems


# As in flagd's own schema: a flag's variants are all booleans, strings, numbers or objects.
_ONE_TYPE: dict[str, Any] = {
    "anyOf": [
        {"additionalProperties": {"type": "boolean"}},
        {"additionalProperties": {"type": "string"}},
        {"additionalProperties": {"type": "number"}},
        {"additionalProperties": {"type": ["object", "array"]}},
    ]
}


class FlagSpec(SpecModel):
    """One flag: its variants, the default, and rules that pick a variant per context."""

    state: FlagState = FlagState.ENABLED
    """``ENABLED`` or ``DISABLED``."""
    variants: dict[str, Any] = Field(min_length=1, json_schema_extra=_ONE_TYPE)
    """Named values the flag can take, all of one type (boolean, string, number, object)."""
    default_variant: str | None = Field(alias="defaultVariant")
    """The variant served when no rule matches; null leaves the caller's default."""
    targeting: dict[str, Any] = {}
    """A JsonLogic rule with flagd's operators (``fractional``, ``sem_ver``,
    ``starts_with``, ``ends_with``) that returns a variant name."""
    metadata: dict[str, str | int | float | bool] = {}
    """Free-form facts about the flag (owner, ticket), returned with evaluations."""

    @model_validator(mode="after")
    def _variants_agree(self) -> FlagSpec:
        problems = variant_problems(self.variants, self.default_variant)
        if problems:
            raise ValueError(problems[0])
        return self

    @property
    def kind(self) -> str:
        """The flag's type: boolean, string, number or object."""
        return variant_type(next(iter(self.variants.values())))


class FlagSetSpec(SpecModel):
    """A flagd flag-definition document."""

    schema_: str | None = Field(default=None, alias="$schema")
    """The flagd schema URL, kept for editors."""
    flags: dict[str, FlagSpec] = {}
    """The flags, by key."""
    evaluators: dict[str, Any] = Field(default={}, alias="$evaluators")
    """Shared JsonLogic fragments (segments) that targeting rules use through ``$ref``."""
    metadata: dict[str, str | int | float | bool] = {}
    """Facts about the whole flag set."""
    guards: dict[str, list[GuardSpec]] = {}
    """Andon: guards by flag key, which make a flag serve a fallback variant by itself
    when a router metric breaches its bound (judged by the server) or a dependency stops
    answering (judged inside each SDK)."""
    experiments: dict[str, ExperimentSpec] = {}
    """Andon: A/B experiments by flag key, comparing the flag's variants on a goal event."""

    def flagd_document(self) -> dict[str, Any]:
        """The flagd document alone (``flags``, ``$evaluators``, ``metadata``), as JSON
        values: what flagd and the evaluator read. Guards and experiments are Andon's and
        stay out."""
        return self.model_dump(
            mode="json", by_alias=True, exclude={"schema_", "guards", "experiments"}
        )

    def guards_document(self) -> dict[str, list[dict[str, Any]]]:
        """The guards by flag key as JSON values, their defaults filled in."""
        return {key: [each.to_document() for each in guards] for key, guards in self.guards.items()}

    def experiments_document(self) -> dict[str, dict[str, Any]]:
        """The experiments by flag key as JSON values."""
        return {key: spec.model_dump(mode="json") for key, spec in self.experiments.items()}
