"""The immune system's statistical core: observations of each version, judges that say
whether the canary is worse than allowed, and the decision of an analysis step.

Pure throughout: no I/O and no clock. The rollout reconciler observes (the router's
snapshot via :func:`samples_from_snapshot`, the instances' counters via
:func:`read_counters`), keeps each version's :func:`window` since the step began, asks the
judges :func:`judges_for` built from andon.yaml, and acts on :func:`decide_step`.

- :class:`ThresholdJudge`: fixed bounds on the canary alone;
- :class:`ComparisonJudge`: canary against stable at one look (exact and rank tests);
- :class:`SequentialJudge`: canary against stable at every look, with a false-alarm rate
  that holds under continuous monitoring (mixture SPRT, state in :class:`SequentialState`);
- :func:`assess_power`: whether the traffic expected can judge a metric in the time given;
- :func:`begin_run` and :func:`take_look`: an analysis run that the reconciler drives tick
  by tick, persisted as :class:`AnalysisRunState`, ending in a :class:`RunVerdict`;
  :class:`Observed` is what the providers (:mod:`andon.analysis.providers`, the I/O side)
  answered at a tick.
"""

from andon.analysis._exposition import read_counters
from andon.analysis.aggregating import StepDecision, decide_step
from andon.analysis.comparing import ComparisonJudge
from andon.analysis.fake import FakeJudge
from andon.analysis.judges import judges_for
from andon.analysis.metrics import Metric, MetricKind
from andon.analysis.power import PowerStatement, Traffic, assess_power
from andon.analysis.progress import MetricProgress
from andon.analysis.readings import Answer, Observed, sources_of
from andon.analysis.run_state import AnalysisRunState, Outage, RunVerdict
from andon.analysis.runs import begin_run, take_look
from andon.analysis.samples import (
    LatencyHistogram,
    VersionSample,
    combine,
    samples_from_snapshot,
    window,
)
from andon.analysis.sequential import SequentialJudge, SequentialState
from andon.analysis.summaries import summarize_run
from andon.analysis.threshold import ThresholdJudge
from andon.analysis.verdicts import Judge, Look, Outcome, Scalar, Verdict

__all__ = [
    "AnalysisRunState",
    "Answer",
    "ComparisonJudge",
    "FakeJudge",
    "Judge",
    "LatencyHistogram",
    "Look",
    "Metric",
    "MetricKind",
    "MetricProgress",
    "Observed",
    "Outage",
    "Outcome",
    "PowerStatement",
    "RunVerdict",
    "Scalar",
    "SequentialJudge",
    "SequentialState",
    "StepDecision",
    "ThresholdJudge",
    "Traffic",
    "Verdict",
    "VersionSample",
    "assess_power",
    "begin_run",
    "combine",
    "decide_step",
    "judges_for",
    "read_counters",
    "samples_from_snapshot",
    "sources_of",
    "summarize_run",
    "take_look",
    "window",
]
