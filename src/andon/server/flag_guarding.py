"""The metric guard controller: every few seconds it reads the router's counters of each
environment whose flags have metric guards, judges each guard over its window, trips a
flag whose metric breaches its bound (it serves the guard's fallback) and restores it
once the metric has stayed half-way back for the guard's ``recovery``.

The app's lifespan starts it as its own task (not a periodic of the pipeline scheduler,
whose tick waits for git polls and drift checks first); tests call :meth:`tick` with the
time. Judging is pure (:func:`assess_look`, :func:`decide_guards`); trips and restores
are flag-set changes through :class:`~andon.server.flagging.FlagService` with
:func:`~andon.server.flag_edits.decide_trip` and ``decide_untrip``, recorded in the
history as ``guard_tripped`` and ``guard_restored`` with their evidence.

- **Window.** The router's counters are cumulative; the controller keeps a short ring of
  snapshots per environment, and a guard's window is the newest snapshot less the one at
  or before ``now - window`` (the oldest one while the controller has watched for less),
  summed over every version the router counts. A counter that went down is a restart, as
  :func:`andon.analysis.window` reads it.
- **Not enough traffic.** error_rate and latency need :data:`MIN_REQUESTS` in the window;
  with fewer the look is unknown: it never trips, and neither starts nor ends a recovery.
- **Hysteresis.** A guard is healthy again at half-way back from its bound towards the
  safe side: ``value <= max / 2`` for ``max``, ``value >= min * 1.5`` for ``min``.
  Between that level and the bound it is neither breached nor healthy: a tripped flag
  stays tripped. The flag is restored when its holding guard has been healthy at every
  judged look for ``recovery`` and no guard of the flag is breached.
- **People win.** A killed flag is left alone. A person's change of a tripped flag ends
  the guard's hold (the history's ``set`` entry says so); the guard is armed again at once.
- **State.** The hold (guard, what ran before, since when, evidence) is in the flag set's
  stored ``held``, so a restarted server keeps a tripped flag tripped. When the metric
  turned healthy is kept in memory only: writing it would make a flag-set version that
  changes nothing the SDKs serve. After a restart the recovery starts again at the first
  healthy look, so a restart can delay a restore, never hasten one.
- **No data, no decision.** A runtime or agent that does not answer is logged once per
  outage and decides nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from pydantic import ValidationError

from andon.analysis import VersionSample, samples_from_snapshot, window
from andon.environments import EnvironmentLifecycle, EnvironmentOrder, agent_environment
from andon.errors import AndonError
from andon.server.access import record as audit
from andon.server.flag_edits import FlagChange, GuardTrip, Who, decide_trip, decide_untrip
from andon.server.flag_guard_looks import (
    GuardAction,
    GuardDecision,
    WindowCounts,
    assess_look,
    decide_guards,
    summed,
)
from andon.server.flagging import FlagService
from andon.server.notifying import Notifier
from andon.spec.flag_guards import GuardSpec
from andon.store import (
    EnvironmentRecord,
    EnvironmentStatus,
    FlagSetContent,
    FlagSetRecord,
    NewFlagHistory,
    Store,
)

log = logging.getLogger("andon.server.guards")

INTERVAL = 2.0
"""Seconds between two looks at every guarded environment."""
MIN_REQUESTS = 20
"""Requests a window needs before its error rate or latency is judged."""
TRAFFIC_TIMEOUT = 5.0
"""Seconds a runtime has to answer for its router's counters."""
ACTOR = "guard"

Snapshot = dict[str, VersionSample]
Guarded = dict[str, list[tuple[int, GuardSpec]]]
"""The metric guards of each flag of a flag set, with their index among its guards."""


class FlagGuardController:
    """Judges the metric guards of every ready environment's flags, on the event loop."""

    def __init__(
        self,
        store: Store,
        lifecycle: EnvironmentLifecycle,
        flags: FlagService,
        *,
        clock: Callable[[], datetime] | None = None,
        interval: float = INTERVAL,
        min_requests: int = MIN_REQUESTS,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.flags = flags
        # Tells the webhooks of each trip (a restore is not news).
        self.notifier = notifier if notifier is not None else Notifier()
        self.clock = clock or lifecycle.clock
        self.interval = interval
        self.min_requests = min_requests
        self._rings: dict[tuple[str, str], deque[tuple[float, Snapshot]]] = {}
        self._healthy: dict[tuple[str, str, str], dict[int, float]] = {}
        self._orders: dict[tuple[str, str, str | None], EnvironmentOrder | None] = {}
        self._silent: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self.looked_at: datetime | None = None
        """When it last looked (None before its first look)."""

    def start(self) -> None:
        """Start looking every ``interval`` seconds (call on the event loop)."""
        self._task = asyncio.create_task(self._loop(), name="flag-guards")

    async def stop(self) -> None:
        """Stop looking; holds stay in the store for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.tick(self.clock())
            except Exception:
                log.exception("the flag guards' look failed; trying again in %gs", self.interval)
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def tick(self, now: datetime) -> list[tuple[str, str, str, str]]:
        """Look at every guarded environment at ``now``; ``(project, environment, flag,
        "tripped" | "restored")`` of each flag changed."""
        watched = self._watched()
        alive = {(record.project, record.name) for record, _, _ in watched}
        self._rings = {key: ring for key, ring in self._rings.items() if key in alive}
        self._healthy = {key: at for key, at in self._healthy.items() if key[:2] in alive}
        done = await asyncio.gather(*(self._guard(now, *each) for each in watched))
        self.looked_at = now
        return [change for changes in done for change in changes]

    def _watched(self) -> list[tuple[EnvironmentRecord, FlagSetRecord, Guarded]]:
        """Each ready environment whose flags have metric guards, with them."""
        found = []
        for record in self.store.environments.list(statuses=[EnvironmentStatus.READY]):
            flag_set = self.flags.get(record.project, record.name)
            guarded: Guarded = {}
            for key, documents in flag_set.content.guards.items():
                for index, document in enumerate(documents):
                    if "metric" not in document:
                        continue
                    try:
                        guarded.setdefault(key, []).append(
                            (index, GuardSpec.model_validate(document))
                        )
                    except ValidationError:
                        log.warning("guard %d of flag %s cannot be read; skipped", index, key)
            if guarded:
                found.append((record, flag_set, guarded))
        return found

    async def _guard(
        self, now: datetime, record: EnvironmentRecord, flag_set: FlagSetRecord, guarded: Guarded
    ) -> list[tuple[str, str, str, str]]:
        at = now.timestamp()
        samples = await self._sample(record, at)
        if samples is None:
            return []
        ring = self._rings.setdefault((record.project, record.name), deque())
        ring.append((at, samples))
        longest = max(
            spec.window.total_seconds() for specs in guarded.values() for _, spec in specs
        )
        # Keep the newest snapshot at or before the longest window's start, and all after.
        while len(ring) > 1 and ring[1][0] <= at - longest:
            ring.popleft()
        changes = []
        for key, specs in guarded.items():
            looks = [
                assess_look(
                    index,
                    spec.metric,
                    self._counts(ring, at, spec.window.total_seconds()),
                    self.min_requests,
                )
                for index, spec in specs
                if spec.metric is not None
            ]
            state = (record.project, record.name, key)
            decision = decide_guards(
                looks,
                {index: spec.recovery.total_seconds() for index, spec in specs},
                flag_set.content.held.get(key),
                self._healthy.get(state, {}),
                at,
            )
            self._healthy[state] = decision.healthy_since
            if decision.action is not None and decision.guard is not None:
                spec = dict(specs).get(decision.guard)
                done = await asyncio.to_thread(self._act, record, key, decision, spec, now)
                if done:
                    changes.append((*state, done))
        return changes

    def _act(
        self,
        record: EnvironmentRecord,
        key: str,
        decision: GuardDecision,
        spec: GuardSpec | None,
        now: datetime,
    ) -> str | None:
        """Write the trip or the restore; what was written (None when a person's change
        came first, or nothing changed)."""
        guard = decision.guard
        assert guard is not None
        stamp = now.isoformat().replace("+00:00", "Z")
        decide: Callable[[FlagSetContent], FlagChange]
        if decision.action is GuardAction.TRIP:
            assert decision.look is not None and spec is not None
            look = decision.look
            who = Who(ACTOR, f"guard {guard} tripped: {look.sentence()}; serving {spec.fallback}")
            trip = GuardTrip(guard, spec.fallback, stamp, {**look.evidence(), "at": stamp})
            decide = partial(decide_trip, key=key, trip=trip, who=who)
        else:
            healthy = self._healthy.get((record.project, record.name, key), {}).get(guard)
            held_for = 0.0 if healthy is None else now.timestamp() - healthy
            reason = f"guard {guard} is no longer a metric guard of the flag"
            evidence: dict[str, Any] = {"guard": guard, "at": stamp}
            if decision.look is not None:
                reason = f"guard {guard} recovered: {decision.look.recovered_sentence(held_for)}"
                evidence |= {**decision.look.evidence(recovered=True), "healthy_for": held_for}
            who = Who(ACTOR, reason)
            decide = partial(decide_untrip, key=key, guard=guard, who=who, evidence=evidence)
        made: list[NewFlagHistory] = []

        def recorded(content: FlagSetContent) -> FlagChange:
            # The change that was written is the last one decided: its history tells
            # whether the guard changed the flag or found it changed by someone first.
            change = decide(content)
            made[:] = change.history
            return change

        try:
            self.flags.change(record.project, record.name, recorded)
        except AndonError as exc:
            log.warning("guard %d of flag %s in %s: %s", guard, key, record.name, exc.message)
            return None
        if not made:
            return None
        what = "tripped" if decision.action is GuardAction.TRIP else "restored"
        log.warning(
            "flag %s of %s/%s %s: %s", key, record.project, record.name, what, made[0].reason
        )
        if decision.action is GuardAction.TRIP:
            self.notifier.guard_fired(record.project, record.name, made[0], now)
        audit(
            self.store,
            f"flag.guard_{what}",
            f"{record.project}/{record.name}/flags/{key}",
            after={"reason": made[0].reason, "guard": guard},
        )
        return what

    async def _sample(self, record: EnvironmentRecord, at: float) -> Snapshot | None:
        """The router's cumulative counters per version, or None (logged once per
        outage) when the runtime does not answer."""
        where = (record.project, record.name)
        try:
            runtime = self.lifecycle.runtime_for(await self._order(record))
            try:
                name = agent_environment(record.project, record.name)
                snapshot = await asyncio.wait_for(runtime.traffic(name), TRAFFIC_TIMEOUT)
            finally:
                await runtime.close()
        except (AndonError, TimeoutError) as exc:
            if where not in self._silent:
                self._silent.add(where)
                message = exc.message if isinstance(exc, AndonError) else "no answer in time"
                log.warning(
                    "the flag guards of %s/%s decide nothing while its router's counters "
                    "cannot be read: %s",
                    *where,
                    message,
                )
            return None
        if where in self._silent:
            self._silent.discard(where)
            log.info("the router of %s/%s answers again; its flag guards judge again", *where)
        try:
            return samples_from_snapshot(snapshot, at)
        except (KeyError, TypeError, ValueError):
            # Counters of a shape this server does not know: no data, so no decision.
            log.warning("the router counters of %s/%s cannot be read; skipped", *where)
            return None

    async def _order(self, record: EnvironmentRecord) -> EnvironmentOrder | None:
        """The environment's order (which runtime it runs on), read once per release."""
        key = (record.project, record.name, record.version)
        if key not in self._orders:
            self._orders = {k: v for k, v in self._orders.items() if k[:2] != key[:2]}
            try:
                self._orders[key] = await asyncio.to_thread(self.lifecycle.order_of, record)
            except AndonError:
                self._orders[key] = None
        return self._orders[key]

    @staticmethod
    def _counts(
        ring: deque[tuple[float, Snapshot]], now: float, span: float
    ) -> WindowCounts | None:
        """What the router counted over the last ``span`` seconds (or since the oldest
        snapshot kept), summed over the versions; None before a second snapshot."""
        base_at, base = ring[0]
        for at, samples in ring:
            if at > now - span:
                break
            base_at, base = at, samples
        latest_at, latest = ring[-1]
        if base_at >= latest_at:
            return None
        # A version the earlier snapshot does not have was first counted since.
        parts = [
            window(base[name], sample) if name in base else sample
            for name, sample in latest.items()
        ]
        return summed(parts, latest_at - base_at)
