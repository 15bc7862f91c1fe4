"""Rollouts: how a new version reaches customers, and how a bad one is taken back.

:func:`plan_rollout` reads andon.yaml's ``release`` into a :class:`RolloutPlan`;
:meth:`RolloutState.begin` opens a rollout; :func:`decide_rollout` is its one pure
decision, tick after tick: from the plan, the state, the :class:`Observations` and the
time to a :class:`Decision` (next state, actions, sentence, next wakeup). The actions
(:class:`StartInstances`, :class:`StopInstances`, :class:`RunMigrations`,
:class:`RunSmokeTests`, :class:`SetTraffic`, :class:`StartAnalysis`,
:class:`RecordEvent`) are applied by the reconciler through the runtime and the router.
:func:`assess_command` tells the API at once why a command would be refused, and
:func:`plan_undo` how to go back to the previous release.
"""

from andon.rollout.actions import (
    Action,
    EventKind,
    RecordEvent,
    RunMigrations,
    RunSmokeTests,
    SetTraffic,
    StartAnalysis,
    StartInstances,
    StopInstances,
    action_from_dict,
)
from andon.rollout.deciding import Decision, assess_command, decide_rollout, strategy_for
from andon.rollout.observations import (
    CheckResult,
    CommandKind,
    InstanceReport,
    Observations,
    OperatorCommand,
    Outcome,
    Verdict,
)
from andon.rollout.phases import DecisionKind, PauseReason, Phase
from andon.rollout.plans import CanaryStep, RolloutPlan, StepKind, assess_plan, plan_rollout
from andon.rollout.state import (
    AnalysisRun,
    DecisionRecord,
    PauseState,
    RollingProgress,
    RolloutState,
)
from andon.rollout.strategies import RolloutStrategy
from andon.rollout.traffic import HeaderRoute, Mirror, Traffic
from andon.rollout.undoing import Undo, plan_undo

__all__ = [
    "Action",
    "AnalysisRun",
    "CanaryStep",
    "CheckResult",
    "CommandKind",
    "Decision",
    "DecisionKind",
    "DecisionRecord",
    "EventKind",
    "HeaderRoute",
    "InstanceReport",
    "Mirror",
    "Observations",
    "OperatorCommand",
    "Outcome",
    "PauseReason",
    "PauseState",
    "Phase",
    "RecordEvent",
    "RollingProgress",
    "RolloutPlan",
    "RolloutState",
    "RolloutStrategy",
    "RunMigrations",
    "RunSmokeTests",
    "SetTraffic",
    "StartAnalysis",
    "StartInstances",
    "StepKind",
    "StopInstances",
    "Traffic",
    "Undo",
    "Verdict",
    "action_from_dict",
    "assess_command",
    "assess_plan",
    "decide_rollout",
    "plan_rollout",
    "plan_undo",
    "strategy_for",
]
