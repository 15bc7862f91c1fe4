"""A/B experiment results: a flag's variants compared on a goal event (``client.track``).

Called by the server's experiment results endpoint and so by ``andon experiment results
KEY --env E [--json]``, which hand it each variant's distinct exposed and converted units.
Pure: no I/O, no clock, no randomness, and standard library only (no scipy) so that the
flag package stays light for the services that embed the SDK.

For each variant: exposures, conversions and rate, and its posterior probability to be
best; for each variant other than the control: the absolute lift (Newcombe's hybrid score
interval), the relative lift (delta method on the log ratio) and a two-sided p-value (the
pooled z-test, or Fisher's exact test when a cell expects fewer than 5 units). A
sample-ratio-mismatch check guards all of it: a skewed assignment voids the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist
from typing import Any

from andon.flags._bayes import probabilities_to_be_best
from andon.flags._proportions import (
    PValueTest,
    difference_interval,
    relative_interval,
    two_sided_p,
)
from andon.flags._srm import SRM_THRESHOLD, SampleRatioCheck, assess_sample_ratio
from andon.flags._wording import describe_comparison

__all__ = [
    "SRM_THRESHOLD",
    "ExperimentResults",
    "ExperimentStatus",
    "Lift",
    "PValueTest",
    "SampleRatioCheck",
    "VariantCounts",
    "VariantResult",
    "assess_experiment",
    "assess_sample_ratio",
]


class ExperimentStatus(StrEnum):
    """What the results allow one to say, in order of precedence."""

    NOT_ENOUGH_DATA = "not_enough_data"
    """Fewer than two variants, or one below the minimum exposures."""
    SAMPLE_RATIO_MISMATCH = "sample_ratio_mismatch"
    """The assignment is skewed: no comparison can be trusted until it is fixed."""
    SIGNIFICANT = "significant"
    """At least one variant converts differently from the control (Holm-adjusted)."""
    NOT_SIGNIFICANT = "not_significant"


@dataclass(frozen=True, slots=True)
class VariantCounts:
    """What the store counted for one variant of the flag."""

    name: str
    exposures: int
    """Distinct units (targeting keys) that were served this variant."""
    conversions: int
    """Distinct exposed units that then tracked the goal event."""


@dataclass(frozen=True, slots=True)
class Lift:
    """One variant against the control. Intervals are at the results' confidence."""

    absolute: float
    """Rate minus the control's rate."""
    absolute_interval: tuple[float, float]
    relative: float | None
    """Rate over the control's, less 1; None when the control converted nobody."""
    relative_interval: tuple[float, float] | None
    """None when either variant converted nobody (the log ratio is infinite)."""
    p_value: float
    """Two-sided, for this comparison alone (not adjusted for the others)."""
    test: PValueTest
    significant: bool
    """Below ``1 - confidence`` after Holm's adjustment over all the comparisons."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "absolute": self.absolute,
            "absolute_interval": list(self.absolute_interval),
            "relative": self.relative,
            "relative_interval": _listed(self.relative_interval),
            "p_value": self.p_value,
            "test": self.test.value,
            "significant": self.significant,
        }


@dataclass(frozen=True, slots=True)
class VariantResult:
    """One variant's counts, rate and standing."""

    name: str
    exposures: int
    conversions: int
    rate: float | None
    """None before any exposure."""
    probability_best: float | None
    """Posterior probability (uniform priors) that its rate is the highest; None for a
    variant without exposures, which is left out rather than judged on its prior alone."""
    lift: Lift | None
    """Against the control; None for the control, or when either has no exposures."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "exposures": self.exposures,
            "conversions": self.conversions,
            "rate": self.rate,
            "probability_best": self.probability_best,
            "lift": None if self.lift is None else self.lift.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class ExperimentResults:
    """An experiment's results, what they allow one to say, and a sentence for people."""

    control: str
    confidence: float
    status: ExperimentStatus
    message: str
    """E.g. ``treatment converts 12.0% vs control 10.0% (+20.0%, 95% CI +8.1% to
    +33.2%, p = 0.001); probability to be best 99.9%``."""
    variants: tuple[VariantResult, ...]
    """In the order given, the control among them."""
    sample_ratio: SampleRatioCheck | None
    """None with a single variant, where there is no split to check."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "confidence": self.confidence,
            "status": self.status.value,
            "message": self.message,
            "variants": [variant.to_dict() for variant in self.variants],
            "sample_ratio": None if self.sample_ratio is None else self.sample_ratio.to_dict(),
        }


def assess_experiment(
    counts: Sequence[VariantCounts],
    control: str,
    *,
    weights: Mapping[str, float] | None = None,
    confidence: float = 0.95,
    min_exposures: int = 100,
    srm_threshold: float = SRM_THRESHOLD,
) -> ExperimentResults:
    """The results of an experiment from each variant's counts. No side effects.

    ``weights`` is the allocation the flag asked for (e.g. its fractional split; equal
    when None), checked by :func:`assess_sample_ratio`. Each variant needs
    ``min_exposures`` before a verdict. When several variants face the control, each
    keeps its own p-value and interval, and Holm's procedure decides which differences are
    significant, so that the chance of any false "significant" stays ``1 - confidence``.

    Raises :class:`ValueError` on counts that cannot come from a correct query (negative,
    more conversions than exposures, repeated names), an unknown control, or a confidence
    outside (0, 1): the server builds them, and the CLI checks what users type first.
    """
    _check(counts, control, confidence, min_exposures)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    base = next(variant for variant in counts if variant.name == control)
    exposed = [variant for variant in counts if variant.exposures > 0]
    best = probabilities_to_be_best([(v.conversions, v.exposures) for v in exposed])
    chances = {variant.name: chance for variant, chance in zip(exposed, best, strict=True)}
    compared = [
        variant
        for variant in counts
        if variant.name != control and variant.exposures > 0 and base.exposures > 0
    ]
    tests = {
        v.name: two_sided_p(v.conversions, v.exposures, base.conversions, base.exposures)
        for v in compared
    }
    significant = _holm({name: p for name, (p, _) in tests.items()}, 1.0 - confidence)
    lifts = {
        v.name: _lift(v, base, z, *tests[v.name], significant=v.name in significant)
        for v in compared
    }
    variants = tuple(
        VariantResult(
            name=v.name,
            exposures=v.exposures,
            conversions=v.conversions,
            rate=v.conversions / v.exposures if v.exposures else None,
            probability_best=chances.get(v.name),
            lift=lifts.get(v.name),
        )
        for v in counts
    )
    ratio = None
    if len(counts) > 1:
        observed = {variant.name: variant.exposures for variant in counts}
        ratio = assess_sample_ratio(observed, weights, threshold=srm_threshold)
    status, message = _status(variants, control, ratio, confidence, min_exposures)
    return ExperimentResults(
        control=control,
        confidence=confidence,
        status=status,
        message=message,
        variants=variants,
        sample_ratio=ratio,
    )


def _check(
    counts: Sequence[VariantCounts], control: str, confidence: float, min_exposures: int
) -> None:
    names = [variant.name for variant in counts]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names repeat in {names}; give each variant once.")
    if control not in names:
        raise ValueError(f"the control {control!r} is not among the variants {names}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95), not {confidence}.")
    if min_exposures < 1:
        raise ValueError(f"min_exposures must be at least 1, not {min_exposures}.")
    for variant in counts:
        if variant.exposures < 0 or variant.conversions < 0:
            raise ValueError(f"variant {variant.name!r} has negative counts.")
        # The server counts conversions among exposed units only; more conversions than
        # exposures means the query counted goal events of units outside the experiment.
        if variant.conversions > variant.exposures:
            raise ValueError(
                f"variant {variant.name!r} has {variant.conversions:,} conversions but only "
                f"{variant.exposures:,} exposures; count only converted units that were exposed."
            )


def _lift(
    variant: VariantCounts,
    control: VariantCounts,
    z: float,
    p_value: float,
    test: PValueTest,
    *,
    significant: bool,
) -> Lift:
    own = (variant.conversions, variant.exposures, control.conversions, control.exposures)
    rate = variant.conversions / variant.exposures
    base = control.conversions / control.exposures
    return Lift(
        absolute=rate - base,
        absolute_interval=difference_interval(*own, z),
        relative=rate / base - 1.0 if base > 0 else None,
        relative_interval=relative_interval(*own, z),
        p_value=p_value,
        test=test,
        significant=significant,
    )


def _holm(p_values: Mapping[str, float], alpha: float) -> set[str]:
    """The comparisons Holm's step-down procedure finds significant: the smallest p-value
    against ``alpha / m``, the next against ``alpha / (m - 1)``, ... until one fails."""
    ordered = sorted(p_values.items(), key=lambda item: item[1])
    significant: set[str] = set()
    for rank, (name, p) in enumerate(ordered):
        if p >= alpha / (len(ordered) - rank):
            break
        significant.add(name)
    return significant


def _status(
    variants: Sequence[VariantResult],
    control: str,
    ratio: SampleRatioCheck | None,
    confidence: float,
    min_exposures: int,
) -> tuple[ExperimentStatus, str]:
    if ratio is None:
        return (
            ExperimentStatus.NOT_ENOUGH_DATA,
            f"nothing to compare: the experiment has a single variant, {control}",
        )
    # A skewed split comes first: it is a bug to fix, and more data will not cure it.
    if ratio.skewed:
        return ExperimentStatus.SAMPLE_RATIO_MISMATCH, ratio.message
    short = [f"{v.name} has {v.exposures:,}" for v in variants if v.exposures < min_exposures]
    if short:
        return (
            ExperimentStatus.NOT_ENOUGH_DATA,
            f"not enough data yet: each variant needs {min_exposures:,} exposures; "
            + ", ".join(short),
        )
    base = next(v for v in variants if v.name == control)
    compared = [v for v in variants if v.lift is not None]
    clauses = "; ".join(describe_comparison(v, base, confidence) for v in compared)
    if any(v.lift is not None and v.lift.significant for v in compared):
        return ExperimentStatus.SIGNIFICANT, clauses
    # With several comparisons a lone p below 1 - confidence may not survive Holm's
    # adjustment; say so, or the sentence would seem to contradict its own numbers.
    adjusted = f" after Holm's adjustment for {len(compared)} comparisons" * (len(compared) > 1)
    return ExperimentStatus.NOT_SIGNIFICANT, f"no significant difference{adjusted}: {clauses}"


def _listed(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else list(interval)
