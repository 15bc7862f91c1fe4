"""The power statements of an analysis run: for each judge of each counted metric, whether
the traffic seen (or expected) can judge it within the run's budget. The run stores them
so that ``andon rollout status`` can say up front that a step is too short for its traffic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from andon.analysis.comparing import ComparisonJudge
from andon.analysis.judges import judges_for
from andon.analysis.metrics import MetricKind
from andon.analysis.power import PowerStatement, Traffic, assess_power
from andon.analysis.progress import BASELINE, THRESHOLD, RunView, roles_of
from andon.analysis.readings import is_counted
from andon.analysis.samples import VersionSample
from andon.analysis.sequential import SequentialJudge
from andon.analysis.threshold import ThresholdJudge
from andon.spec import AnalysisSpec, MetricSpec

_ERRORS = 0.001
"""The error rate assumed for the stable version before any traffic is seen."""
_ERRORS_TO_CATCH = 0.01
"""An error rate a comparison should always catch, whatever the tolerance."""


def run_power(
    specs: Sequence[MetricSpec],
    analysis: AnalysisSpec,
    view: RunView,
    traffic: Traffic,
    reference: Mapping[str, VersionSample],
) -> tuple[PowerStatement, ...]:
    """A statement per judge of each counted metric in ``specs``. ``reference`` holds,
    by metric name, what the canary is compared with (the stable version's window, or the
    recorded baseline): the level a regression is measured against. No side effects."""
    statements: list[PowerStatement] = []
    for spec in specs:
        if not is_counted(spec):
            continue
        roles = roles_of(spec, view)
        made = judges_for(spec, analysis, sequential=view.stable is not None)
        declared = [role for role in (THRESHOLD, BASELINE) if getattr(spec, role) is not None]
        for role, judge in zip(declared, made, strict=True):
            if role not in roles:
                continue
            assert isinstance(judge, SequentialJudge | ComparisonJudge | ThresholdJudge)
            levels = _levels(judge, reference.get(spec.name))
            if levels is not None:
                statements.append(assess_power(judge, traffic, *levels))
    return tuple(statements)


def _levels(
    judge: SequentialJudge | ComparisonJudge | ThresholdJudge, reference: VersionSample | None
) -> tuple[float, float] | None:
    """The stable level and the regression the judge should catch; None when it cannot be
    told yet (a business counter before the stable version's rate is known)."""
    metric = judge.metric
    if isinstance(judge, ThresholdJudge) or metric.kind is MetricKind.REQUEST_RATE:
        return 0.0, 0.0
    served = reference.requests if reference is not None else 0
    if metric.kind is MetricKind.ERROR_RATE:
        stable = reference.errors / served if reference is not None and served else _ERRORS
        ratio = 1.0 + (judge.max_increase or 0.0)
        return stable, min(max(2.0 * ratio * stable, _ERRORS_TO_CATCH), 1.0)
    if metric.kind is MetricKind.LATENCY:
        tail = 1.0 - (metric.quantile or 0.5)
        return tail, min(2.0 * tail, 0.99)
    counted = reference.counters.get(metric.counter or "") if reference is not None else None
    if counted is None or not served:
        return None
    stable = counted / served
    # A fall to half of what the tolerance accepts: plainly a broken canary.
    return stable, stable * (1.0 - (judge.max_decrease or 0.0)) / 2.0
