"""The rollout reconciler: it drives every unfinished rollout, tick by tick, from what it
observes to what the rollout engine decides, and applies the decision's actions through
the environment's :class:`~andon.environments.ReleaseDeployment`.

A tick reads the rollout's record, first re-applies actions a previous tick decided but
may not have finished (a server killed mid-step: every action states a target, so doing
it again is harmless; an event, the one that does not, leaves the list once stored),
observes the versions' instances, the results of migrations and smoke tests and the
analysis, passes the queued commands, decides, writes the new state with the actions it
is about to apply, applies them, and writes again. The record's ``state`` holds it all
(see :class:`RolloutDocument`), so that a server killed at any moment resumes the
rollout at the same step; the agent serves traffic meanwhile. A runtime that does not
answer (a :class:`~andon.errors.TemporaryError`: the agent restarting) delays the tick,
and the rollout says so; it never fails it.

A queued rollout takes its environment's deploy lock when the rollout ahead ends, over
the release the environment runs by then.

The app's lifespan starts it; the rollouts API asks it to deploy, to pass commands and to
undo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from andon.environments import (
    DatabaseInfo,
    EnvironmentLifecycle,
    EnvironmentOrder,
    ReleaseDeployment,
    order_for_release,
)
from andon.errors import AndonError, ConflictError, TemporaryError
from andon.rollout import (
    Action,
    DecisionKind,
    DecisionRecord,
    InstanceReport,
    Phase,
    RecordEvent,
    RunMigrations,
    RunSmokeTests,
    SetTraffic,
    StartAnalysis,
    StartInstances,
    StopInstances,
    Traffic,
    action_from_dict,
    decide_rollout,
)
from andon.server.access import record as audit
from andon.server.analysing import AnalysisDriver
from andon.server.flagging import FlagService
from andon.server.notifying import Notifier
from andon.server.rollout_records import (
    RolloutDocument,
    carried_commits,
    old_release,
    status_of,
)
from andon.server.waking import woken
from andon.store import (
    DeployEventKind,
    EnvironmentRecord,
    EnvironmentStatus,
    RolloutRecord,
    RolloutStatus,
    Store,
)

log = logging.getLogger("andon.server.rollouts")

_ORDERS_KEPT = 64
"""Orders of rollouts' versions kept parsed (two per rollout under way)."""


class RolloutController:
    """Drives the unfinished rollouts of every project on the server's event loop."""

    def __init__(
        self,
        store: Store,
        lifecycle: EnvironmentLifecycle,
        *,
        clock: Callable[[], datetime] | None = None,
        interval: float = 1.0,
        flags: FlagService | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        # Tells the webhooks of each deploy event stored (none without one).
        self.notifier = notifier if notifier is not None else Notifier()
        # Applies the flags a release declares when its rollout succeeds.
        self.flags = flags
        self.lifecycle = lifecycle
        self.settings = lifecycle.settings
        # The deploys check commands and begin rollouts on the lifecycle's clock: the
        # engine must decide on the same time, or a deadline set by one is read by another.
        self.clock = clock or lifecycle.clock
        self.interval = interval
        self.analysis = AnalysisDriver()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._checks: dict[tuple[int, str], asyncio.Task[None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._due: dict[int, datetime] = {}
        self._orders: dict[tuple[str, str, str | None, str, str], EnvironmentOrder] = {}

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
            await woken(self._wake, self.interval)

    def _take_lock(self, record: RolloutRecord) -> None:
        """Start a queued rollout when its environment's lock is free, over the release
        the environment runs by then."""
        if self.store.rollouts.active(record.project, record.environment) is not None:
            return
        first = self.store.rollouts.next_queued(record.project, record.environment)
        if first is None or first.id != record.id:
            return
        now = self.clock()
        changes: dict[str, Any] = {"status": RolloutStatus.RUNNING, "started_at": now}
        environment = self.store.environments.get(record.project, record.environment)
        if environment.version != old_release(record)[0]:
            # The rollout ahead changed what runs: going over the release it was queued
            # over would start the new one beside stopped instances and route to them.
            changes |= self._rebase(record, environment.version, environment.artifact, now)
        with contextlib.suppress(ConflictError):
            self.store.rollouts.update(record.id, **changes)

    def _rebase(
        self, record: RolloutRecord, version: str | None, artifact: str | None, now: datetime
    ) -> dict[str, Any]:
        """The changes that make a queued rollout go over ``version`` (or end it, when
        that is the version it would deploy)."""
        document = RolloutDocument(record.state)
        state = document.state
        queued_over = old_release(record)[0] or "nothing"
        if version == state.canary or version is None:
            sentence = (
                f"aborted before it started: {state.canary} serves this environment already "
                f"(it was queued over {queued_over}); nothing to deploy"
                if version is not None
                else "aborted before it started: the environment runs no release any more"
            )
            document.state = replace(
                state,
                phase=Phase.ABORTED,
                finished_at=now,
                decisions=(*state.decisions, DecisionRecord(now, DecisionKind.ABORTED, sentence)),
            )
            return {
                "status": RolloutStatus.ABORTED,
                "finished_at": now,
                "state": document.to_dict(),
                "message": sentence,
            }
        sentence = (
            f"{version} runs now, not {queued_over} that this rollout was queued over: "
            f"it goes over {version}"
        )
        document.state = replace(
            state,
            stable=version,
            traffic=Traffic.only(version),
            decisions=(*state.decisions, DecisionRecord(now, DecisionKind.WARNING, sentence)),
        )
        carried = carried_commits(
            self.store, self.settings, record.project, version, record.to_version
        )
        document.rebased = {"version": version, "artifact": artifact, "commits": carried.commits}
        document.commit_times.update(carried.times)
        return {"state": document.to_dict(), "message": sentence}

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
                    record = await self._apply_pending(record, document, deployment)
                self._resume_checks(record, document, deployment)
                now = self.clock()
                canary = await deployment.report(document.state.canary)
                stable = await deployment.report(document.state.stable)
                document.seen = {
                    role: {"version": version, **_seen(report)}
                    for role, version, report in (
                        ("canary", document.state.canary, canary),
                        ("stable", document.state.stable, stable),
                    )
                    if version is not None
                }
                await self.analysis.note_baseline(document, deployment, now)
                await self._look(record, document, deployment, now)
                decision = decide_rollout(
                    document.plan,
                    document.state,
                    document.observations(_report(canary), _report(stable)),
                    now,
                )
                document.state = decision.state
                document.consumed = len(document.commands)
                document.pending = [action.to_dict() for action in decision.actions]
                record = self._save(record, document, message=decision.message)
                record = await self._apply_pending(record, document, deployment)
                self._due[rollout_id] = self._next_due(record, decision.next_wakeup, now)
                return record
            except TemporaryError as exc:
                # The agent restarting, a runtime that does not answer: what was decided
                # is recorded and what was not applied stays pending, so the next tick
                # goes on from here; the rollout neither fails nor moves meanwhile.
                retry = self.clock() + timedelta(seconds=max(exc.delay, self.interval))
                self._due[rollout_id] = retry
                log.warning("rollout %d waits for its runtime: %s", rollout_id, exc.message)
                return self.store.rollouts.update(
                    rollout_id,
                    message=(
                        f"waiting for the runtime: {exc.message.rstrip('.')}; retrying at "
                        f"{retry.isoformat(timespec='seconds')}"
                    ),
                )
            finally:
                await deployment.runtime.close()

    def _next_due(self, record: RolloutRecord, wakeup: datetime | None, now: datetime) -> datetime:
        if record.status.finished:
            return now + timedelta(days=365)
        soon = now + timedelta(seconds=self.interval)
        return soon if wakeup is None else min(wakeup, soon)

    # -- acting ----------------------------------------------------------------------------

    async def _apply_pending(
        self, record: RolloutRecord, document: RolloutDocument, deployment: ReleaseDeployment
    ) -> RolloutRecord:
        """Apply the document's pending actions in order, each leaving the list once it
        is done; the record once none is left."""
        while document.pending:
            action = action_from_dict(document.pending[0])
            await self._apply(record, document, deployment, action)
            document.pending = document.pending[1:]
            if isinstance(action, RecordEvent):
                # The one action that is not a target: applied again after a restart,
                # the event would be stored twice.
                record = self._save(record, document)
        return self._save(record, document)

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
        for kind, attempt in list(document.running.items()):
            task = self._checks.get((record.id, kind))
            if task is None or task.done():
                self._check(record, document, deployment, kind, attempt)

    async def _run_check(
        self,
        rollout_id: int,
        template: ReleaseDeployment,
        kind: str,
        version: str,
        attempt: int,
    ) -> None:
        deployment: ReleaseDeployment | None = None
        try:
            record = self.store.rollouts.get(rollout_id)
            deployment = self._deployment(record)
            if kind == "migrations":
                message = await deployment.run_migrations(version)
            else:
                plan = RolloutDocument(record.state).plan
                message = await deployment.run_smoke_tests(version, plan.smoke_header, version)
            result = {"attempt": attempt, "passed": True, "message": message}
        except AndonError as exc:
            result = {"attempt": attempt, "passed": False, "message": exc.message}
        except Exception as exc:
            # A check that dies without a result would leave the rollout waiting for one
            # until its deadline; it fails now, saying why.
            log.exception("the %s of rollout %d could not run", kind, rollout_id)
            what = "migrations" if kind == "migrations" else "smoke tests"
            result = {
                "attempt": attempt,
                "passed": False,
                "message": f"the {what} could not run: {type(exc).__name__}: {exc}",
            }
        finally:
            if deployment is not None:
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
        _, old_artifact, commits = old_release(record)
        ours = action.version == record.to_version
        kind, at = DeployEventKind(action.kind.value), self.clock()
        landed = document.commit_times if ours else {}
        times = {sha: datetime.fromisoformat(landed[sha]) for sha in commits if sha in landed}
        self.store.deploy_events.record(
            project=record.project,
            environment=record.environment,
            kind=kind,
            version=action.version,
            artifact=record.to_artifact if ours else old_artifact or record.to_artifact,
            commits=commits if ours else (),
            message=action.sentence,
            rollout_id=record.id,
            at=at,
            commit_times=times,
        )
        self.notifier.rollout_event(kind, record, action.version, action.sentence, at)
        audit(
            self.store,
            f"rollout.{kind.value}",
            f"{record.project}/{record.environment}#{record.id}",
            after={"version": action.version, "sentence": action.sentence},
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
            if self.flags is not None:
                await self._declare_flags(record, deployment)

    async def _declare_flags(self, record: RolloutRecord, deployment: ReleaseDeployment) -> None:
        """Apply the flags the new release's andon.yaml declares. A flag set that cannot
        take them is logged: the release runs, and the rollout has succeeded."""
        assert self.flags is not None
        spec = deployment.order(record.to_version).spec.flags
        actor = f"deploy of {record.to_version[:12]} (rollout #{record.id})"
        try:
            await asyncio.to_thread(
                self.flags.apply_declared, record.project, record.environment, spec, actor
            )
        except AndonError as exc:
            log.warning(
                "the flags of rollout %d were not applied to %s: %s",
                record.id,
                record.environment,
                exc.message,
            )

    # -- helpers ---------------------------------------------------------------------------

    def _save(
        self, record: RolloutRecord, document: RolloutDocument, *, message: str | None = None
    ) -> RolloutRecord:
        # Commands only ever join the end of the stored list, and only a tick (under the
        # rollout's lock) takes them off: those that came while this tick awaited its
        # runtime are kept, not overwritten by what it read at its start.
        stored = self.store.rollouts.get(record.id).state.get("commands", [])
        document.commands, document.consumed = list(stored[document.consumed :]), 0
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
            record.to_version: self._order(environment, record.to_artifact, record.to_version)
        }
        old_version, old_artifact, _ = old_release(record)
        if old_version is not None and old_artifact is not None:
            orders[old_version] = self._order(environment, old_artifact, old_version)
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

    def _order(
        self, environment: EnvironmentRecord, artifact: str, version: str
    ) -> EnvironmentOrder:
        """The order of one version of a rollout. andon.yaml at a commit never changes,
        so it is read from git and parsed once, not at every tick of every rollout."""
        key = (environment.project, environment.name, environment.copied_from, artifact, version)
        found = self._orders.pop(key, None)
        if found is None:
            found = order_for_release(self.store, self.settings, environment, artifact, version)
        self._orders[key] = found  # the most recent last: the oldest goes first
        while len(self._orders) > _ORDERS_KEPT:
            del self._orders[next(iter(self._orders))]
        return found


def _report(report: Any) -> InstanceReport:
    return InstanceReport(report.ready, report.failed, report.message)


def _seen(report: Any) -> dict[str, Any]:
    return {"ready": report.ready, "failed": report.failed, "message": report.message}
