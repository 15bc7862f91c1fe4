"""A fake world for driving rollouts tick by tick: instances that start (or fail), a
router that keeps every split it was given, migrations, smoke tests and analysis runs
that answer as a test scripts them, commands queued when a condition holds, and a
fake clock. Each tick also checks that deciding is repeatable and that the state
survives a trip through JSON, as it does through the store after a restart."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from andon.rollout import (
    Action,
    CheckResult,
    Decision,
    InstanceReport,
    Observations,
    OperatorCommand,
    Outcome,
    RecordEvent,
    RolloutPlan,
    RolloutState,
    RunMigrations,
    RunSmokeTests,
    SetTraffic,
    StartAnalysis,
    StartInstances,
    StopInstances,
    Traffic,
    Verdict,
    decide_rollout,
    plan_rollout,
)
from andon.rollout.phases import TERMINAL
from andon.spec import MigrationsSpec, ReleaseSpec

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

Judge = Callable[[StartAnalysis], Verdict]


def passing(run: StartAnalysis) -> Verdict:
    """Every analysis passes."""
    return Verdict(run.run, Outcome.PASS, "error rate 0.1% over 2,000 requests, within bounds")


@dataclass
class FakeWorld:
    """What the reconciler would observe, changed by the actions it applies."""

    now: datetime = T0
    ready: dict[str, int] = field(default_factory=dict)
    starting: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    """Versions whose instances never become ready, with what they say."""
    hanging: set[str] = field(default_factory=set)
    """Versions whose instances neither become ready nor fail (the runtime waits on)."""
    crashing: dict[str, str] = field(default_factory=dict)
    """Versions whose instances crash once they take a share of the traffic."""
    migrations_fail: str = ""
    smoke_fail: str = ""
    judge: Judge = passing
    traffic: Traffic = field(default_factory=Traffic)
    splits: list[Traffic] = field(default_factory=list)
    """Every split the router was given, in order."""
    actions: list[tuple[datetime, Action]] = field(default_factory=list)
    migrations: CheckResult | None = None
    smoke: CheckResult | None = None
    runs: dict[int, tuple[datetime, StartAnalysis]] = field(default_factory=dict)
    commands: list[tuple[Callable[[RolloutState], bool], OperatorCommand]] = field(
        default_factory=list
    )

    @property
    def events(self) -> list[str]:
        """The deployment events recorded, by kind."""
        return [a.kind.value for _, a in self.actions if isinstance(a, RecordEvent)]

    def command_when(self, condition: Callable[[RolloutState], bool], command: str) -> None:
        """Queue ``command`` (by ``ann``) at the first tick whose state meets ``condition``."""
        kind, _, reason = command.partition(":")
        command_ = OperatorCommand.from_dict({"kind": kind, "by": "ann", "reason": reason})
        self.commands.append((condition, command_))

    def observe(self, state: RolloutState) -> Observations:
        """What the reconciler would see now."""
        for version, count in list(self.starting.items()):
            if version in self.hanging:
                continue
            if version in self.broken:
                self.failed[version] = count - self.ready.get(version, 0)
            else:
                self.ready[version] = count
            del self.starting[version]
        for version in self.crashing:
            if self.traffic.weight_of(version) > 0 and self.ready.get(version):
                self.failed[version] = 1
        due = [
            (number, action)
            for number, (started, action) in self.runs.items()
            if action.duration is None or self.now >= started + action.duration
        ]
        verdict = self.judge(max(due, key=lambda item: item[0])[1]) if due else None
        queued = [cmd for condition, cmd in self.commands if condition(state)]
        self.commands = [(c, cmd) for c, cmd in self.commands if cmd not in queued]
        return Observations(
            canary=self._report(state.canary),
            stable=self._report(state.stable),
            migrations=self.migrations,
            smoke=self.smoke,
            verdict=verdict,
            commands=tuple(queued),
        )

    def apply(self, actions: tuple[Action, ...]) -> None:
        """Apply a decision's actions, in order."""
        for action in actions:
            self.actions.append((self.now, action))
            if isinstance(action, StartInstances):
                self.starting[action.version] = action.count
                self.failed.pop(action.version, None)
            elif isinstance(action, StopInstances):
                self.ready[action.version] = min(self.ready.get(action.version, 0), action.keep)
                self.starting.pop(action.version, None)
                self.failed.pop(action.version, None)
            elif isinstance(action, SetTraffic):
                self.traffic = action.traffic
                self.splits.append(action.traffic)
            elif isinstance(action, RunMigrations):
                self.migrations = CheckResult(
                    action.attempt, not self.migrations_fail, self.migrations_fail or "2 applied"
                )
            elif isinstance(action, RunSmokeTests):
                self.smoke = self._smoke(action)
            elif isinstance(action, StartAnalysis):
                self.runs[action.run] = (self.now, action)

    def _smoke(self, action: RunSmokeTests) -> CheckResult:
        routed = any(
            route.header == action.header and route.version == action.version
            for route in self.traffic.header_routes
        )
        assert routed, "smoke tests must reach the new version through a header route"
        return CheckResult(action.attempt, not self.smoke_fail, self.smoke_fail or "3 passed")

    def _report(self, version: str | None) -> InstanceReport:
        if version is None:
            return InstanceReport()
        message = self.broken.get(version) or self.crashing.get(version, "")
        failed = self.failed.get(version, 0)
        return InstanceReport(self.ready.get(version, 0), failed, message if failed else "")


def drive(
    plan: RolloutPlan,
    state: RolloutState,
    world: FakeWorld,
    *,
    until: Callable[[RolloutState], bool] = lambda state: state.phase in TERMINAL,
    max_ticks: int = 400,
) -> tuple[RolloutState, list[Decision]]:
    """Tick until ``until`` holds: observe, decide, apply, and move the clock (a second
    after actions, else to the decision's wakeup)."""
    decisions: list[Decision] = []
    for _ in range(max_ticks):
        if until(state):
            return state, decisions
        seen = world.observe(state)
        decision = decide_rollout(plan, state, seen, world.now)
        restored = RolloutState.from_dict(json.loads(json.dumps(state.to_dict())))
        assert decide_rollout(plan, restored, seen, world.now) == decision, "not repeatable"
        decisions.append(decision)
        world.apply(decision.actions)
        state = decision.state
        wakeup = decision.next_wakeup
        if decision.actions or wakeup is None:
            world.now += timedelta(seconds=1)
        else:
            world.now = wakeup
    raise AssertionError(f"the rollout did not get there in {max_ticks} ticks: {state.phase}")


def make_plan(release: dict[str, Any], **options: Any) -> RolloutPlan:
    """A plan from an andon.yaml ``release`` section (as YAML would give it)."""
    migrations = options.pop("migrations", {"command": "python -m shop.migrate"})
    return plan_from(release, migrations, **options)


def plan_from(
    release: dict[str, Any], migrations: dict[str, Any] | None, **options: Any
) -> RolloutPlan:
    """:func:`~andon.rollout.plan_rollout` of plain andon.yaml values."""
    return plan_rollout(
        ReleaseSpec.model_validate(release),
        instances=options.pop("instances", 3),
        migrations=None if migrations is None else MigrationsSpec.model_validate(migrations),
        **options,
    )


@pytest.fixture
def world() -> FakeWorld:
    """A world where v1 runs three ready instances behind the router."""
    return FakeWorld(ready={"v1": 3}, traffic=Traffic.only("v1"))
