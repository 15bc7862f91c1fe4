"""The judges of a metric of andon.yaml: the factory the rollout reconciler calls when an
analysis step begins, keyed on the metric's kind of bound (``threshold``, ``baseline``)."""

from __future__ import annotations

from andon.analysis.comparing import ComparisonJudge
from andon.analysis.metrics import Metric
from andon.analysis.sequential import SequentialJudge
from andon.analysis.threshold import ThresholdJudge
from andon.analysis.verdicts import Judge
from andon.spec import AnalysisSpec, MetricSpec


def judges_for(spec: MetricSpec, analysis: AnalysisSpec, *, sequential: bool = True) -> list[Judge]:
    """One judge per bound the metric declares: a :class:`ThresholdJudge` for
    ``threshold``; for ``baseline``, a :class:`SequentialJudge` (watched at every interval)
    or, with ``sequential=False``, a :class:`ComparisonJudge` (for a single look).

    Percentages of andon.yaml (``max_increase: 100%``) become fractions (1.0); the metric's
    ``min_samples`` falls back on the analysis'. Raises :class:`~andon.errors.UsageError`
    for a query or comparison that cannot be judged.
    """
    metric = Metric.from_query(spec.name, spec.query)
    min_samples = spec.min_samples or analysis.min_samples
    judges: list[Judge] = []
    if spec.threshold is not None:
        judges.append(
            ThresholdJudge(
                metric,
                max=spec.threshold.max,
                min=spec.threshold.min,
                min_samples=min_samples,
                min_seconds=analysis.interval.total_seconds(),
            )
        )
    if spec.baseline is not None:
        increase = _fraction(spec.baseline.max_increase)
        decrease = _fraction(spec.baseline.max_decrease)
        if sequential:
            judges.append(
                SequentialJudge(
                    metric, max_increase=increase, max_decrease=decrease, min_samples=min_samples
                )
            )
        else:
            judges.append(
                ComparisonJudge(
                    metric, max_increase=increase, max_decrease=decrease, min_samples=min_samples
                )
            )
    return judges


def _fraction(points: float | None) -> float | None:
    return None if points is None else points / 100.0
