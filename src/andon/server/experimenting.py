"""The results of an environment's A/B experiments: each variant's exposed and converted
units counted by the store, the split the flag asks for, and
:func:`~andon.flags.experiments.assess_experiment` over them.

The experiments API (``/api/v1/projects/{p}/environments/{e}/experiments``) calls
:func:`experiment_results` and :func:`experiment_summaries`; ``andon experiment results``
and ``andon experiment list`` show what they answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from andon.errors import NotFoundError
from andon.flags.experiments import ExperimentResults, VariantCounts, assess_experiment
from andon.store import FlagSetRecord, Store


def experiment_results(
    store: Store, record: FlagSetRecord, key: str, *, confidence: float = 0.95
) -> dict[str, Any]:
    """The results of flag ``key``'s experiment in the flag set ``record``, with the
    flag, goal, control, split and flag-set version. NotFoundError, in a sentence, for an
    unknown flag or a flag without an experiment."""
    experiment = _experiment(record, key)
    results, weights = _assess(store, record, key, experiment, confidence)
    return {
        **results.to_dict(),
        "project": record.project,
        "environment": record.environment,
        "flag": key,
        "goal": experiment["goal"],
        "control": experiment["control"],
        "weights": weights,
        "version": record.version,
    }


def experiment_summaries(store: Store, record: FlagSetRecord) -> list[dict[str, Any]]:
    """Each experiment of the flag set with its status in a sentence, by flag key."""
    found = []
    for key, experiment in sorted(record.content.experiments.items()):
        results, _ = _assess(store, record, key, experiment, 0.95)
        found.append(
            {
                "flag": key,
                "goal": experiment["goal"],
                "control": experiment["control"],
                "exposures": sum(variant.exposures for variant in results.variants),
                "status": results.status.value,
                "message": results.message,
            }
        )
    return found


def split_weights(flag: Mapping[str, Any]) -> dict[str, float] | None:
    """The percentage each variant is given by a ``fractional`` rule that is the flag's
    whole targeting (flagd's ``[variant, weight]`` entries, weight 1 when left out); None
    when the flag assigns variants some other way. No side effects."""
    targeting = flag.get("targeting")
    if not isinstance(targeting, Mapping) or set(targeting) != {"fractional"}:
        return None
    entries = targeting["fractional"]
    weights: dict[str, float] = {}
    for entry in entries if isinstance(entries, list) else []:
        # The first argument may be the expression to bucket by, not a variant.
        if isinstance(entry, list) and entry:
            weight = entry[1] if len(entry) > 1 else 1
            if isinstance(weight, int | float) and not isinstance(weight, bool):
                weights[str(entry[0])] = weights.get(str(entry[0]), 0.0) + float(weight)
    total = sum(weights.values())
    if total <= 0:
        return None
    return {name: 100.0 * weight / total for name, weight in weights.items()}


def _experiment(record: FlagSetRecord, key: str) -> dict[str, Any]:
    content = record.content
    experiment = content.experiments.get(key)
    if experiment is not None:
        return experiment
    environment = record.environment
    if key not in content.document.get("flags", {}):
        known = ", ".join(sorted(content.experiments)) or "none"
        raise NotFoundError(
            f"there is no flag '{key}' in environment {environment} (its experiments: {known}); "
            f"'andon experiment list --env {environment}' lists them."
        )
    raise NotFoundError(
        f"flag '{key}' has no experiment in environment {environment}; declare one in "
        "andon.yaml under flags.experiments with its goal event and control variant."
    )


def _assess(
    store: Store,
    record: FlagSetRecord,
    key: str,
    experiment: Mapping[str, Any],
    confidence: float,
) -> tuple[ExperimentResults, dict[str, float]]:
    """The results, and the split the sample-ratio check expected."""
    control, goal = str(experiment["control"]), str(experiment["goal"])
    counts = store.flag_events.experiment_counts(record.project, record.environment, key, goal)
    flag = record.content.document.get("flags", {}).get(key, {})
    split = split_weights(flag)
    declared = [str(name) for name in flag.get("variants", {})]
    # The control first, then the variants the split names (or that were served), in the
    # flag's order, then any served variant the flag no longer has.
    chosen = set(split) if split is not None else set(counts)
    ordered = [control, *(name for name in declared if name in chosen)]
    names = list(dict.fromkeys([*ordered, *sorted(chosen), *sorted(counts)]))
    weights = (
        {name: (split or {}).get(name, 0.0) for name in names}
        if split is not None
        else dict.fromkeys(names, 1.0)
    )
    variants = [VariantCounts(name, *counts.get(name, (0, 0))) for name in names]
    results = assess_experiment(variants, control, weights=weights, confidence=confidence)
    return results, weights
