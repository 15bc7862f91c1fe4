"""Asking a metric's judges at one look of an analysis run: its bound and its comparison
over each version's window, a PromQL expression's value against its threshold, or a
webhook's or command's answer.

:func:`~andon.analysis.runs.take_look` calls :func:`judge_metric` for each metric whose
sources answered. Pure: no I/O, and the time comes in as ``now``.
"""

from __future__ import annotations

import math
from dataclasses import replace

from andon.analysis import _formatting as fmt
from andon.analysis.comparing import ComparisonJudge
from andon.analysis.judges import judges_for
from andon.analysis.progress import ANSWER, BASELINE, THRESHOLD, MetricProgress, RunView, roles_of
from andon.analysis.readings import Observed, empty_sample, is_counted
from andon.analysis.verdicts import Judge, Look, Outcome, Verdict
from andon.spec import AnalysisSpec, MetricSpec


def judge_metric(
    progress: MetricProgress,
    spec: MetricSpec,
    *,
    analysis: AnalysisSpec,
    view: RunView,
    observed: Observed,
    now: float,
) -> MetricProgress:
    """Ask each of the metric's judges about its windows (or its value, or its answer)."""
    since = progress.since if progress.since is not None else now
    over = now >= view.started_at + view.budget
    latest, states = dict(progress.latest), dict(progress.states)
    settled, failures = list(progress.settled), progress.failures
    roles = roles_of(spec, view)
    judges = _judges(spec, analysis, view, roles)
    look = _look(progress, view, since, now)
    for role in roles:
        if role in settled:
            continue
        if role == ANSWER:
            verdict = _answered(spec, observed)
        elif role == THRESHOLD and not is_counted(spec):
            verdict = _held(spec, observed, view)
        elif role == THRESHOLD:
            verdict = judges[role].judge(look)
        elif view.stable is not None:
            verdict = judges[role].judge(replace(look, state=states.get(role)))
            if verdict.state is not None:
                states[role] = verdict.state
                if verdict.state.decision is not None:
                    settled.append(role)
            verdict = replace(verdict, state=None)
        else:
            verdict = _compare_once(judges[role], look, view, over)
            if verdict.outcome is not Outcome.INCONCLUSIVE or over:
                settled.append(role)
        if role != BASELINE and verdict.outcome is Outcome.FAIL:
            failures += 1
        latest[role] = verdict
    return replace(
        progress,
        latest=latest,
        states=states,
        settled=tuple(settled),
        failures=failures,
        looks=progress.looks + 1,
        judged_at=now,
    )


def _judges(
    spec: MetricSpec, analysis: AnalysisSpec, view: RunView, roles: tuple[str, ...]
) -> dict[str, Judge]:
    if not is_counted(spec):
        return {}
    made = judges_for(spec, analysis, sequential=view.stable is not None)
    declared = [role for role in (THRESHOLD, BASELINE) if getattr(spec, role) is not None]
    return {role: judge for role, judge in zip(declared, made, strict=True) if role in roles}


def _look(progress: MetricProgress, view: RunView, since: float, now: float) -> Look:
    """Each version's window since the metric began; a version without traffic yet has an
    empty one. The budget counts from the metric's own start, so that it ends with the run."""
    canary = progress.total.get(view.canary)
    stable = progress.total.get(view.stable) if view.stable is not None else None
    return Look(
        canary=canary or empty_sample(view.canary, now, since, like=stable),
        stable=(
            None
            if view.stable is None
            else stable or empty_sample(view.stable, now, since, like=canary)
        ),
        elapsed=max(now - since, 0.0),
        budget=view.started_at + view.budget - since,
    )


def _compare_once(judge: Judge, look: Look, view: RunView, over: bool) -> Verdict:
    """Without a stable version: one comparison with the recorded baseline, at the end
    (or as soon as the canary served enough requests, when the run has no duration).
    Comparing at every look would raise its false alarms above its alpha."""
    canary = look.canary
    needed = judge.min_samples if isinstance(judge, ComparisonJudge) else 1
    if over or (view.open_ended and canary.requests >= needed):
        return judge.judge(replace(look, stable=view.baseline))
    when = (
        f"once the canary served {fmt.requests(needed)}"
        if view.open_ended
        else "when the analysis ends"
    )
    return Verdict(
        judge.metric.name,
        Outcome.INCONCLUSIVE,
        f"compared with the recorded baseline {when}; {fmt.requests(canary.requests)} so far",
        {"canary_requests": canary.requests},
    )


def _answered(spec: MetricSpec, observed: Observed) -> Verdict:
    answer = observed.answers[spec.name]
    outcome = Outcome.PASS if answer.passed else Outcome.FAIL
    said = answer.message or ("passed" if answer.passed else "failed")
    return Verdict(
        spec.name, outcome, f"{spec.provider.value} says: {said}", {"pass": answer.passed}
    )


def _held(spec: MetricSpec, observed: Observed, view: RunView) -> Verdict:
    """A PromQL expression's value for the canary against the metric's threshold."""
    values = observed.queried.get(spec.name, {})
    value = values.get(view.canary)
    if value is None and set(values) == {""}:
        value = values[""]  # the query selects the canary itself
    # A NaN compares false with any bound: it must not read as a value within them.
    if value is None or not math.isfinite(value):
        return Verdict(
            spec.name,
            Outcome.INCONCLUSIVE,
            f"Prometheus has no value of {spec.name} for the canary {view.canary}",
        )
    bounds = spec.threshold
    evidence = {
        "value": value,
        "max": getattr(bounds, "max", None),
        "min": getattr(bounds, "min", None),
    }
    head = f"canary {spec.name} {fmt.number(value)}"
    if bounds is not None and bounds.max is not None and value > bounds.max:
        return Verdict(
            spec.name, Outcome.FAIL, f"{head} is above the {fmt.number(bounds.max)} limit", evidence
        )
    if bounds is not None and bounds.min is not None and value < bounds.min:
        return Verdict(
            spec.name,
            Outcome.FAIL,
            f"{head} is below the {fmt.number(bounds.min)} minimum",
            evidence,
        )
    return Verdict(spec.name, Outcome.PASS, f"{head}, within its threshold", evidence)
