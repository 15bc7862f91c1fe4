"""An analysis run: the metrics of one analysis step judged look by look, from its start
to its verdict, as plain data that the rollout reconciler persists between ticks.

On a ``StartAnalysis`` action the reconciler observes the metric sources
(:func:`andon.analysis.providers.observe`) and calls :func:`begin_run`; at each analysis
interval it observes again, calls :func:`take_look` and stores the state it returns
(:meth:`AnalysisRunState.to_dict`), so that a restarted server resumes the same run. Once
a :class:`RunVerdict` comes back it becomes the rollout's verdict:
``Verdict.from_dict(verdict.to_dict())`` (the outcomes are the same strings).

Pure: no I/O, no clock. ``now`` is seconds on the reconciler's clock (a UNIX timestamp,
which sentences show as a UTC time of day).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from andon.analysis import _formatting as fmt
from andon.analysis._powering import run_power
from andon.analysis.aggregating import decide_step
from andon.analysis.judging import judge_metric
from andon.analysis.power import PowerStatement, Traffic
from andon.analysis.progress import MetricProgress, RunView, record, roles_of, settle
from andon.analysis.readings import Observed, cumulative_samples, gaps, is_counted
from andon.analysis.run_state import MAX_DURATION, AnalysisRunState, Outage, RunVerdict
from andon.analysis.samples import VersionSample
from andon.analysis.verdicts import Outcome, Scalar, Verdict
from andon.errors import UsageError
from andon.spec import AnalysisSpec, MetricSpec


def begin_run(
    run: int,
    canary: str,
    stable: str | None,
    metrics: Sequence[str],
    duration: float | None,
    *,
    analysis: AnalysisSpec,
    observed: Observed,
    now: float,
    baseline: VersionSample | None = None,
    max_duration: float = MAX_DURATION,
    traffic: Traffic | None = None,
) -> AnalysisRunState:
    """A run of ``metrics`` (all of the analysis' when empty) of ``canary`` against
    ``stable`` (or, when None, against the ``baseline`` window recorded before the
    switch), for ``duration`` seconds (None: until it can tell, at most
    ``max_duration``), starting from what ``observed`` holds at ``now``.

    With ``traffic`` (the request rates expected), the power statements are made at once;
    otherwise from the first look's rates. Raises :class:`~andon.errors.UsageError` for a
    metric the analysis does not declare. No side effects.
    """
    declared = {spec.name: spec for spec in analysis.metrics}
    names = tuple(metrics) or tuple(declared)
    unknown = [name for name in names if name not in declared]
    if unknown:
        raise UsageError(
            f"analysis run {run} names {', '.join(unknown)}, which release.analysis.metrics "
            "does not declare; declare them in andon.yaml or leave them out of the step."
        )
    state = AnalysisRunState(
        run=run,
        canary=canary,
        stable=stable,
        metrics=(),
        started_at=now,
        budget=duration if duration is not None else max_duration,
        duration=duration,
        baseline=baseline,
    )
    view = state.view
    judged = tuple(name for name in names if roles_of(declared[name], view))
    progress, outages = {}, {}
    for name in judged:
        spec = declared[name]
        found = MetricProgress(name)
        if not is_counted(spec):
            progress[name] = replace(found, since=now)
            continue
        down = gaps(spec, observed, _versions(view))
        if not down:
            found = record(found, cumulative_samples(spec, observed, _versions(view), now), now)
        outages.update({source: Outage(now, reason) for source, reason in down.items()})
        progress[name] = found
    state = replace(
        state,
        metrics=judged,
        skipped=tuple(name for name in names if name not in judged),
        progress=progress,
        outages=outages,
    )
    if traffic is not None:
        reference = {name: baseline for name in judged if baseline is not None}
        specs = [declared[name] for name in judged]
        state = replace(state, power=run_power(specs, analysis, view, traffic, reference))
    return state


def take_look(
    state: AnalysisRunState, analysis: AnalysisSpec, observed: Observed, now: float
) -> tuple[AnalysisRunState, RunVerdict | None]:
    """Judge each metric on its windows since the run began, and decide once the verdict
    is final: any metric failing fails the run at once; all passing passes it; at the
    end of the budget anything short of that is inconclusive, with the reason.

    A metric whose sources did not answer skips the look; one still unreachable when the
    budget ends (and one interval after) is inconclusive, never passed. Once decided,
    further looks return the same verdict. No side effects.
    """
    if state.verdict is not None:
        return state, state.verdict
    view = state.view
    declared = {spec.name: spec for spec in analysis.metrics}
    over = now >= state.started_at + state.budget
    progress, outages = dict(state.progress), {}
    verdicts: dict[str, Verdict] = {}
    failed = False
    for name in state.metrics:
        found, spec = progress[name], declared.get(name)
        if spec is None:
            sentence = "it is no longer declared in release.analysis.metrics"
            verdicts[name] = found.final or Verdict(name, Outcome.INCONCLUSIVE, sentence)
            continue
        if found.final is not None:
            verdicts[name] = found.final
            continue
        down = gaps(spec, observed, _versions(view))
        for source, reason in down.items():
            outages[source] = Outage(_since(state, source, now), reason)
        answered = not down
        if answered:
            found = _look_at(
                found, spec, analysis=analysis, view=view, observed=observed, now=now, over=over
            )
        else:
            failed = True
        verdict = settle(found, spec, analysis, view, over and answered)
        if verdict is None and over and not answered:
            grace = (spec.interval or analysis.interval).total_seconds()
            if now >= state.started_at + state.budget + grace:
                verdict = _unreachable(name, outages, down, found)
        if verdict is not None:
            found = replace(found, final=verdict)
            verdicts[name] = verdict
        progress[name] = found
    state = replace(
        state,
        progress=progress,
        outages=outages,
        looks=state.looks + 1,
        failed_looks=state.failed_looks + int(failed),
    )
    state = replace(state, power=_power(state, analysis) or state.power)
    decided = _decide(state, verdicts)
    return replace(state, verdict=decided), decided


def _look_at(
    found: MetricProgress,
    spec: MetricSpec,
    *,
    analysis: AnalysisSpec,
    view: RunView,
    observed: Observed,
    now: float,
    over: bool,
) -> MetricProgress:
    if is_counted(spec):
        starting = found.since is None
        found = record(found, cumulative_samples(spec, observed, _versions(view), now), now)
        if starting:
            return found  # the windows begin here; there is nothing to judge yet
    every = (spec.interval or analysis.interval).total_seconds()
    # A tick a little early (the reconciler's timer) still counts as the interval's look.
    due = found.judged_at is None or now - found.judged_at >= 0.9 * every
    if due or over:
        found = judge_metric(found, spec, analysis=analysis, view=view, observed=observed, now=now)
    return found


def _decide(state: AnalysisRunState, verdicts: Mapping[str, Verdict]) -> RunVerdict | None:
    final = [verdicts[name] for name in state.metrics if name in verdicts]
    failing = any(verdict.outcome is Outcome.FAIL for verdict in final)
    if not failing and len(final) < len(state.metrics):
        return None
    shown = [
        verdicts.get(name) or Verdict(name, Outcome.INCONCLUSIVE, "still being watched")
        for name in state.metrics
    ]
    decision = decide_step(shown)
    sentence = decision.sentence
    if state.stable is None:
        sentence += f" ({_compared_with(state)})"
    if state.skipped:
        names = ", ".join(state.skipped)
        sentence += f"; not judged without a recorded baseline: {names}"
    return RunVerdict(state.run, decision.outcome, sentence, decision.evidence)


def _compared_with(state: AnalysisRunState) -> str:
    baseline = state.baseline
    if baseline is None:
        return "no baseline of the previous version was recorded: thresholds only"
    span = f" over {fmt.seconds(baseline.seconds)}" if baseline.seconds else ""
    return (
        f"compared with {baseline.version}'s recorded baseline of "
        f"{fmt.requests(baseline.requests)}{span}"
    )


def _unreachable(
    name: str, outages: Mapping[str, Outage], down: Mapping[str, str], found: MetricProgress
) -> Verdict:
    source = next(iter(down))
    outage = outages[source]
    reason = outage.reason.rstrip(".")
    sentence = f"metric source {source} unreachable since {_clock(outage.since)} ({reason})"
    evidence: dict[str, Scalar] = {
        "source": source,
        "since": outage.since,
        "reason": outage.reason,
        "looks": found.looks,
    }
    return Verdict(name, Outcome.INCONCLUSIVE, sentence, evidence)


def _power(state: AnalysisRunState, analysis: AnalysisSpec) -> tuple[PowerStatement, ...]:
    """The power statements from the rates seen so far; empty before any window."""
    declared = {spec.name: spec for spec in analysis.metrics}
    specs = [declared[name] for name in state.metrics if name in declared]
    totals = [state.progress[spec.name].total for spec in specs if is_counted(spec)]
    seen = next((total for total in totals if _span(total.get(state.canary))), None)
    if seen is None:
        return ()
    canary = seen[state.canary]
    if state.stable is not None:
        reference = {
            spec.name: state.progress[spec.name].total[state.stable]
            for spec in specs
            if state.stable in state.progress[spec.name].total
        }
        stable = seen.get(state.stable)
    else:
        stable = state.baseline
        reference = {spec.name: stable for spec in specs if stable is not None}
    stable_rate = stable.requests / _span(stable) if stable is not None and _span(stable) else 0.0
    traffic = Traffic(canary.requests / _span(canary), stable_rate, state.budget)
    return run_power(specs, analysis, state.view, traffic, reference)


def _span(sample: VersionSample | None) -> float:
    return (sample.seconds or 0.0) if sample is not None else 0.0


def _since(state: AnalysisRunState, source: str, now: float) -> float:
    known = state.outages.get(source)
    return known.since if known is not None else now


def _versions(view: RunView) -> tuple[str, ...]:
    return (view.canary,) if view.stable is None else (view.canary, view.stable)


def _clock(at: float) -> str:
    """A UNIX time as the UTC time of day, ``12:03:04 UTC`` (a run lasts minutes)."""
    seconds = int(at) % 86_400
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d} UTC"
