"""The immune system at work during a rollout: it begins the analysis run a decision asks
for and takes a look at it on every tick of the rollout, asking the metric sources
andon.yaml names (the router, the instances' ``/metrics``, Prometheus, webhooks,
commands) about the canary and the stable version, and hands the run's verdict to the
rollout engine once it is final.

The rollout controller (:mod:`andon.server.rolling_out`) is the only caller; the run's
state is plain data that the controller keeps in the rollout's record, so a restarted
server goes on with the same run.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from andon.analysis.providers import Subject, observe, providers_for
from andon.analysis.run_state import AnalysisRunState
from andon.analysis.runs import begin_run, take_look
from andon.environments.declaring import version_label
from andon.rollout import Outcome, StartAnalysis, Verdict
from andon.spec import AnalysisSpec, MetricSpec

if TYPE_CHECKING:
    from andon.environments import ReleaseDeployment
    from andon.server.rolling_out import RolloutDocument


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
        state = begin_run(
            action.run,
            subject.canary,
            subject.stable,
            action.metrics,
            action.duration.total_seconds() if action.duration is not None else None,
            analysis=analysis,
            observed=observed,
            now=now.timestamp(),
            max_duration=document.plan.analysis_timeout.total_seconds(),
        )
        return {**state.to_dict(), "canary_version": action.canary}

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


def _subject(run: int, canary: str, stable: str | None) -> Subject:
    """The run's subject, its versions named as the router and the instances name them."""
    return Subject(run, version_label(canary), version_label(stable) if stable else None)
