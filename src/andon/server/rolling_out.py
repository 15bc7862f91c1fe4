"""The rollout reconciler: it drives every unfinished rollout, tick by tick, from what it
observes to what the rollout engine decides, and applies the decision's actions through
the environment's :class:`~andon.environments.ReleaseDeployment`.

A tick reads the rollout's record, first re-applies actions a previous tick decided but
may not have finished (a server killed mid-step: every action states a target, so doing
it again is harmless), observes the versions' instances, the results of migrations and
smoke tests and the analysis, passes the queued commands, decides, writes the new state
with the actions it is about to apply, applies them, and writes again. The record's
``state`` holds it all (see :class:`RolloutDocument`), so that a server killed at any
moment resumes the rollout at the same step; the agent serves traffic meanwhile.

The app's lifespan starts it; the rollouts API asks it to deploy, to pass commands and to
undo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from andon.environments import (
    DatabaseInfo,
    EnvironmentLifecycle,
    ReleaseDeployment,
    order_for_release,
)
from andon.errors import AndonError, ConflictError
from andon.rollout import (
    Action,
    CheckResult,
    InstanceReport,
    Observations,
    OperatorCommand,
    Phase,
    RecordEvent,
    RolloutPlan,
    RolloutState,
    RunMigrations,
    RunSmokeTests,
    SetTraffic,
    StartAnalysis,
    StartInstances,
    StopInstances,
    Verdict,
    action_from_dict,
    decide_rollout,
)
from andon.server.analysing import AnalysisDriver
from andon.store import (
    DeployEventKind,
    EnvironmentStatus,
    RolloutRecord,
    RolloutStatus,
    Store,
)

log = logging.getLogger("andon.server.rollouts")

_STATUS = {
    Phase.PAUSED: RolloutStatus.PAUSED,
    Phase.SUCCEEDED: RolloutStatus.SUCCEEDED,
    Phase.ROLLED_BACK: RolloutStatus.ROLLED_BACK,
    Phase.ABORTED: RolloutStatus.ABORTED,
    Phase.FAILED: RolloutStatus.FAILED,
}
"""Rollout status by engine phase; every other phase is ``running``."""


def status_of(phase: Phase) -> RolloutStatus:
    """The stored status of a rollout in ``phase``."""
    return _STATUS.get(phase, RolloutStatus.RUNNING)


class RolloutDocument:
    """The rollout's record ``state``, read and written whole: the plan, the engine's
    state, the actions being applied, the queued commands, the results of the checks it
    ran, the checks still running, and the analysis run."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.plan = RolloutPlan.from_dict(data["plan"])
        self.state = RolloutState.from_dict(data["rollout"])
        self.pending: list[dict[str, Any]] = list(data.get("pending", []))
        self.commands: list[dict[str, Any]] = list(data.get("commands", []))
        self.results: dict[str, Any] = dict(data.get("results", {}))
        self.running: dict[str, int] = dict(data.get("running", {}))
        self.analysis: dict[str, Any] | None = data.get("analysis")
        self.verdict: dict[str, Any] | None = data.get("verdict")
        self.baseline: dict[str, Any] | None = data.get("baseline")

    @staticmethod
    def new(plan: RolloutPlan, state: RolloutState) -> dict[str, Any]:
        """The document of a rollout that has not ticked yet."""
        return {"plan": plan.to_dict(), "rollout": state.to_dict()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_dict(),
            "rollout": self.state.to_dict(),
            "pending": self.pending,
            "commands": self.commands,
            "results": self.results,
            "running": self.running,
            "analysis": self.analysis,
            "verdict": self.verdict,
            "baseline": self.baseline,
        }

    def observations(self, canary: InstanceReport, stable: InstanceReport) -> Observations:
        verdict = Verdict.from_dict(self.verdict) if self.verdict is not None else None
        return Observations(
            canary=canary,
            stable=stable,
            migrations=CheckResult.from_dict(self.results.get("migrations")),
            smoke=CheckResult.from_dict(self.results.get("smoke")),
            verdict=verdict,
            commands=tuple(OperatorCommand.from_dict(c) for c in self.commands),
        )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RolloutController:
    """Drives the unfinished rollouts of every project on the server's event loop."""

    def __init__(
        self,
        store: Store,
        lifecycle: EnvironmentLifecycle,
        *,
        clock: Callable[[], datetime] = _utc_now,
        interval: float = 1.0,
    ) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.settings = lifecycle.settings
        self.clock = clock
        self.interval = interval
        self.analysis = AnalysisDriver()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._checks: dict[tuple[int, str], asyncio.Task[None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._due: dict[int, datetime] = {}

    # -- life ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start driving (call on the event loop); unfinished rollouts resume."""
        self._task = asyncio.create_task(self._loop(), name="rollout-controller")

    async def stop(self) -> None:
        """Stop driving; rollouts stay where they are and resume at the next start."""
        tasks = [t for t in (self._task, *self._checks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        self._checks.clear()

    def wake(self) -> None:
        """Tick every rollout now (a command came, a deploy was asked for)."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            for record in self.store.rollouts.unfinished():
                if record.status is RolloutStatus.QUEUED:
                    self._take_lock(record)
                    continue
                due = self._due.get(record.id)
                if due is None or due <= self.clock() or record.state.get("commands"):
                    try:
                        await self.tick(record.id)
                    except Exception:
                        log.exception("rollout %d could not tick", record.id)
                        self._due[record.id] = self.clock() + timedelta(seconds=5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    def _take_lock(self, record: RolloutRecord) -> None:
        """Start a queued rollout when its environment's lock is free."""
        if self.store.rollouts.active(record.project, record.environment) is not None:
            return
        first = self.store.rollouts.next_queued(record.project, record.environment)
        if first is None or first.id != record.id:
            return
        with contextlib.suppress(ConflictError):
            self.store.rollouts.update(
                record.id, status=RolloutStatus.RUNNING, started_at=self.clock()
            )

    # -- one tick ------------------------------------------------------------------------

    async def tick(self, rollout_id: int) -> RolloutRecord:
        """Observe, decide, record and act once for the rollout; its record."""
        lock = self._locks.setdefault(rollout_id, asyncio.Lock())
        async with lock:
            record = self.store.rollouts.get(rollout_id)
            document = RolloutDocument(record.state)
            deployment = self._deployment(record)
            try:
                if document.pending:
                    await self._apply_all(record, document, deployment, document.pending)
                    document.pending = []
                    record = self._save(record, document)
                self._resume_checks(record, document, deployment)
                now = self.clock()
                canary = await deployment.report(document.state.canary)
                stable = await deployment.report(document.state.stable)
                await self._look(record, document, deployment, now)
                decision = decide_rollout(
                    document.plan,
                    document.state,
                    document.observations(_report(canary), _report(stable)),
                    now,
                )
                document.state = decision.state
                document.commands = []
                document.pending = [action.to_dict() for action in decision.actions]
                record = self._save(record, document, message=decision.message)
                await self._apply_all(record, document, deployment, decision.actions)
                document.pending = []
                record = self._save(record, document)
                self._due[rollout_id] = self._next_due(record, decision.next_wakeup, now)
                return record
            finally:
                await deployment.runtime.close()

    def _next_due(self, record: RolloutRecord, wakeup: datetime | None, now: datetime) -> datetime:
        if record.status.finished:
            return now + timedelta(days=365)
        soon = now + timedelta(seconds=self.interval)
        return soon if wakeup is None else min(wakeup, soon)

    # -- acting ----------------------------------------------------------------------------

    async def _apply_all(
        self,
        record: RolloutRecord,
        document: RolloutDocument,
        deployment: ReleaseDeployment,
        actions: Sequence[Action] | Sequence[dict[str, Any]],
    ) -> None:
        for action in actions:
            await self._apply(record, document, deployment, _action(action))

    async def _apply(
        self,
        record: RolloutRecord,
        document: RolloutDocument,
        deployment: ReleaseDeployment,
        action: Action,
    ) -> None:
        state = document.state
        if isinstance(action, StartInstances):
            await deployment.ensure_instances(action.version, action.count)
        elif isinstance(action, StopInstances):
            await deployment.stop_instances(action.version, action.keep)
        elif isinstance(action, SetTraffic):
            traffic = action.traffic
            await deployment.set_traffic(
                traffic.weights,
                [route.to_dict() for route in traffic.header_routes],
                traffic.mirror.to_dict() if traffic.mirror is not None else None,
                versions=[v for v in (state.stable, state.canary) if v is not None],
            )
        elif isinstance(action, RunMigrations):
            self._check(record, document, deployment, "migrations", action.attempt)
        elif isinstance(action, RunSmokeTests):
            self._check(record, document, deployment, "smoke", action.attempt)
        elif isinstance(action, StartAnalysis):
            document.verdict = None
            document.analysis = await self.analysis.begin(
                action, deployment, document, self.clock()
            )
        elif isinstance(action, RecordEvent):
            await self._record_event(record, document, deployment, action)

    def _check(
        self,
        record: RolloutRecord,
        document: RolloutDocument,
        deployment: ReleaseDeployment,
        kind: str,
        attempt: int,
    ) -> None:
        """Start the migrations or smoke tests of ``attempt`` in the background; their
        result lands in the document, and wakes the controller."""
        done = document.results.get(kind)
        if done is not None and int(done.get("attempt", 0)) >= attempt:
            return
        key = (record.id, kind)
        if key in self._checks and not self._checks[key].done():
            return
        document.running[kind] = attempt
        version = document.state.canary
        assert version is not None
        self._checks[key] = asyncio.create_task(
            self._run_check(record.id, deployment, kind, version, attempt),
            name=f"rollout-{record.id}-{kind}",
        )

    def _resume_checks(
        self, record: RolloutRecord, document: RolloutDocument, deployment: ReleaseDeployment
    ) -> None:
        """Checks that were running when the server stopped run again (both are
        idempotent by andon.yaml's contract)."""
        for kind, attempt in document.running.items():
            if (record.id, kind) not in self._checks:
                self._check(record, document, deployment, kind, attempt)

    async def _run_check(
        self,
        rollout_id: int,
        template: ReleaseDeployment,
        kind: str,
        version: str,
        attempt: int,
    ) -> None:
        deployment = self._deployment(self.store.rollouts.get(rollout_id))
        try:
            if kind == "migrations":
                message = await deployment.run_migrations(version)
            else:
                plan = RolloutDocument(self.store.rollouts.get(rollout_id).state).plan
                message = await deployment.run_smoke_tests(version, plan.smoke_header, version)
            result = {"attempt": attempt, "passed": True, "message": message}
        except AndonError as exc:
            result = {"attempt": attempt, "passed": False, "message": exc.message}
        finally:
            await deployment.runtime.close()
        lock = self._locks.setdefault(rollout_id, asyncio.Lock())
        async with lock:
            record = self.store.rollouts.get(rollout_id)
            document = RolloutDocument(record.state)
            document.results[kind] = result
            document.running.pop(kind, None)
            self._save(record, document)
        self._due.pop(rollout_id, None)
        self.wake()

    async def _look(
        self,
        record: RolloutRecord,
        document: RolloutDocument,
        deployment: ReleaseDeployment,
        now: datetime,
    ) -> None:
        """Take a look at the analysis run under way, if any; keep its verdict once final."""
        run = document.state.analysis
        if document.analysis is None or run is None or document.verdict is not None:
            return
        if int(document.analysis.get("run", -1)) != run.run:
            return
        document.analysis, verdict = await self.analysis.look(
            document.analysis, deployment, document, now
        )
        if verdict is not None:
            document.verdict = verdict.to_dict()

    async def _record_event(
        self,
        record: RolloutRecord,
        document: RolloutDocument,
        deployment: ReleaseDeployment,
        action: RecordEvent,
    ) -> None:
        artifact = record.to_artifact if action.version == record.to_version else None
        self.store.deploy_events.record(
            project=record.project,
            environment=record.environment,
            kind=DeployEventKind(action.kind.value),
            version=action.version,
            artifact=artifact or record.from_artifact or record.to_artifact,
            commits=record.commits if action.version == record.to_version else (),
            message=action.sentence,
            rollout_id=record.id,
        )
        if action.kind.value == "finished" and document.state.phase is Phase.SUCCEEDED:
            # The environment now declares the new release: drift compares with it.
            await deployment.prepare(record.to_version)
            self.store.environments.update(
                record.project,
                record.environment,
                artifact=record.to_artifact,
                version=record.to_version,
                status=EnvironmentStatus.READY,
                config_checksums=deployment.checksums[record.to_version],
                message=f"running {record.to_version[:12]} since rollout #{record.id}",
            )

    # -- helpers ---------------------------------------------------------------------------

    def _save(
        self, record: RolloutRecord, document: RolloutDocument, *, message: str | None = None
    ) -> RolloutRecord:
        status = status_of(document.state.phase)
        changes: dict[str, Any] = {"state": document.to_dict()}
        if message is not None:
            changes["message"] = message
        if status is not record.status:
            changes["status"] = status
            if status.finished:
                changes["finished_at"] = self.clock()
            elif record.status.finished:
                changes["finished_at"] = None
        return self.store.rollouts.update(record.id, **changes)

    def _deployment(self, record: RolloutRecord) -> ReleaseDeployment:
        environment = self.store.environments.get(record.project, record.environment)
        orders = {
            record.to_version: order_for_release(
                self.store, self.settings, environment, record.to_artifact, record.to_version
            )
        }
        if record.from_version is not None and record.from_artifact is not None:
            orders[record.from_version] = order_for_release(
                self.store, self.settings, environment, record.from_artifact, record.from_version
            )
        target = orders[record.to_version]
        return ReleaseDeployment(
            settings=self.settings,
            artifacts=self.lifecycle.artifacts,
            runtime=self.lifecycle.runtime_for(target),
            project=record.project,
            name=record.environment,
            url=environment.url or "",
            secrets=self.lifecycle.secrets_of(
                record.project, record.environment, environment.copied_from
            ),
            database=(
                DatabaseInfo.from_dict(environment.database)
                if environment.database is not None
                else None
            ),
            orders=orders,
        )


def _report(report: Any) -> InstanceReport:
    return InstanceReport(report.ready, report.failed, report.message)


def _action(action: Action | dict[str, Any]) -> Action:
    return action_from_dict(action) if isinstance(action, dict) else action
