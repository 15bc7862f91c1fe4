"""The immune system at work during a rollout: it begins the analysis run a decision asks
for and takes a look at it on every tick of the rollout, asking the metric sources
andon.yaml names (the router, the instances' ``/metrics``, Prometheus, webhooks,
commands) about the canary and the stable version, and hands the run's verdict to the
rollout engine once it is final.

When no stable version serves beside the new one during a run (blue-green after its
switch, the bake of a rolling or recreate rollout), the run compares the new version with
the old one's *recorded baseline*: what the old version did from the rollout's start
(:meth:`AnalysisDriver.note_baseline`) to the run's start, or, when that is too little to
judge by (a recreate rollout stops the old version at once), all the router had counted
of it when the rollout started.

The rollout controller (:mod:`andon.server.rolling_out`) is the only caller; the run's
state is plain data that the controller keeps in the rollout's record, so a restarted
server goes on with the same run.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from andon.analysis import Observed, VersionSample, samples_from_snapshot, window
from andon.analysis.providers import Subject, observe, providers_for
from andon.analysis.run_state import AnalysisRunState
from andon.analysis.runs import begin_run, take_look
from andon.environments.declaring import version_label
from andon.rollout import Outcome, StartAnalysis, Verdict
from andon.spec import AnalysisSpec, MetricSpec

if TYPE_CHECKING:
    from andon.environments import ReleaseDeployment
    from andon.server.rollout_records import RolloutDocument


class AnalysisDriver:
    """Begins analysis runs and takes looks at them."""

    async def begin(
        self,
        action: StartAnalysis,
        deployment: ReleaseDeployment,
        document: RolloutDocument,
        now: datetime,
    ) -> dict[str, Any]:
        """The state of run ``action.run``, begun from what the sources say now."""
        analysis = _analysis(deployment, action.canary)
        subject = _subject(action.run, action.canary, action.stable)
        observed = await observe(
            providers_for(
                _metrics(analysis, action.metrics),
                runtime=deployment.runtime,
                environment=deployment.agent_name,
                starting=True,
            ),
            subject,
        )
        stable, baseline = subject.stable, None
        if action.stable is not None and document.state.traffic.weight_of(action.stable) == 0:
            # The old version takes no requests any more: comparing with its empty
            # windows could never tell; compare with what it did before the switch.
            stable = None
            baseline = _baseline(
                document.baseline, observed, subject.stable, now.timestamp(), analysis.min_samples
            )
        state = begin_run(
            action.run,
            subject.canary,
            stable,
            action.metrics,
            action.duration.total_seconds() if action.duration is not None else None,
            analysis=analysis,
            observed=observed,
            now=now.timestamp(),
            baseline=baseline,
            max_duration=document.plan.analysis_timeout.total_seconds(),
        )
        return {**state.to_dict(), "canary_version": action.canary}

    async def note_baseline(
        self, document: RolloutDocument, deployment: ReleaseDeployment, now: datetime
    ) -> None:
        """While the old version still takes all requests, note where its counts stand
        (once), as the start of its recorded baseline."""
        state = document.state
        if document.baseline is not None or state.stable is None or not document.plan.metrics:
            return
        if state.traffic.weight_of(state.canary) > 0:
            return  # traffic moved already: from here the old version's counts are partial
        subject = _subject(0, state.canary, state.stable)
        observed = await observe(
            providers_for(
                _metrics(_analysis(deployment, state.canary), ()),
                runtime=deployment.runtime,
                environment=deployment.agent_name,
                starting=True,
            ),
            subject,
        )
        if observed.snapshot is None:
            return  # the router did not answer; the next tick asks again
        start = _sample(observed, subject.stable, now.timestamp())
        document.baseline = {
            "at": now.timestamp(),
            "start": None if start is None else start.to_dict(),
        }

    async def look(
        self,
        data: dict[str, Any],
        deployment: ReleaseDeployment,
        document: RolloutDocument,
        now: datetime,
    ) -> tuple[dict[str, Any], Verdict | None]:
        """The run after one more look, and its verdict once final."""
        state = AnalysisRunState.from_dict(data)
        canary = str(data.get("canary_version") or document.state.canary)
        analysis = _analysis(deployment, canary)
        subject = Subject(state.run, state.canary, state.stable)
        observed = await observe(
            providers_for(
                _metrics(analysis, state.metrics),
                runtime=deployment.runtime,
                environment=deployment.agent_name,
            ),
            subject,
        )
        state, verdict = take_look(state, analysis, observed, now.timestamp())
        kept = {**state.to_dict(), "canary_version": canary}
        if verdict is None:
            return kept, None
        return kept, Verdict(
            run=verdict.run,
            outcome=Outcome(verdict.outcome.value),
            sentence=verdict.sentence,
            evidence=dict(verdict.evidence),
        )


def _analysis(deployment: ReleaseDeployment, version: str) -> AnalysisSpec:
    # The new version's andon.yaml says how it is to be judged.
    return deployment.order(version).spec.release.analysis


def _metrics(analysis: AnalysisSpec, names: tuple[str, ...] | list[str]) -> list[MetricSpec]:
    chosen = set(names)
    return [spec for spec in analysis.metrics if not chosen or spec.name in chosen]


def _sample(observed: Observed, version: str | None, at: float) -> VersionSample | None:
    """``version``'s cumulative counts in ``observed`` (None when it has none)."""
    if version is None or observed.snapshot is None:
        return None
    return samples_from_snapshot(observed.snapshot, at, observed.counters).get(version)


def _baseline(
    noted: dict[str, Any] | None,
    observed: Observed,
    version: str | None,
    now: float,
    enough: int,
) -> VersionSample | None:
    """What ``version`` did from the noted start to ``now``; when that is fewer than
    ``enough`` requests, all it had served at the noted start, if that is more. None
    when nothing was noted or it served no request (the run then judges by thresholds
    only)."""
    if noted is None:
        return None
    start = None if noted.get("start") is None else VersionSample.from_dict(noted["start"])
    end = _sample(observed, version, now)
    found = None
    if end is not None:
        # The router had not seen it at the start: all it served, it served since.
        found = replace(end, since=float(noted["at"])) if start is None else window(start, end)
    if start is not None and (found is None or found.requests < min(enough, start.requests)):
        # Stopped at once (recreate), or gone from the router since: the record of what
        # it served before the rollout began is the better baseline.
        found = start
    return found if found is not None and found.requests > 0 else None


def _subject(run: int, canary: str, stable: str | None) -> Subject:
    """The run's subject, its versions named as the router and the instances name them."""
    return Subject(run, version_label(canary), version_label(stable) if stable else None)
