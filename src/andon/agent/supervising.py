"""The supervisor: runs each instance as a process group of its own, checks its health,
restarts it when it crashes (with backoff, until a crash loop) or turns unhealthy, drains
and stops it when asked, rotates its log, and re-adopts the instances that an earlier agent
left running. The :class:`~andon.agent.Agent` owns it and persists every change it reports.

Everything runs on one asyncio loop (the admin API's): one watching task per instance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from andon.agent.instances import InstancePhase, InstanceRecord, InstanceStatus
from andon.agent.logs import InstanceLog
from andon.agent.policy import (
    CrashHistory,
    Probe,
    SupervisorPolicy,
    assess_check,
    decide_after_exit,
    describe_exit,
)
from andon.agent.processes import InstanceProcess
from andon.errors import NotFoundError, UsageError
from andon.settings import inherited_environment

log = logging.getLogger("andon.agent")

OnChange = Callable[[InstanceRecord], Awaitable[None]]


class _Supervised:
    """What the supervisor holds for one instance beyond its persisted record."""

    def __init__(self, record: InstanceRecord, log: InstanceLog) -> None:
        self.record = record
        self.log = log
        self.process: InstanceProcess | None = None
        self.history = CrashHistory()
        self.failures = 0
        self.started = 0.0
        """When the current process started, on the supervisor's clock."""
        self.task: asyncio.Task[None] | None = None
        self.stopping: asyncio.Task[InstanceStatus] | None = None


class Supervisor:
    """Supervises instance processes; reports every change of a record to ``on_change``."""

    def __init__(
        self,
        logs_dir: Path,
        *,
        policy: SupervisorPolicy | None = None,
        on_change: OnChange | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logs_dir = logs_dir
        self.policy = policy or SupervisorPolicy()
        self._on_change = on_change
        self._clock = clock
        self._supervised: dict[str, _Supervised] = {}
        self._http: httpx.AsyncClient | None = None
        self.restarts: Counter[tuple[str, str]] = Counter()
        """Restarts since the agent started, by environment and reason (crash, unhealthy)."""
        self.crash_loops: Counter[str] = Counter()
        """Instances that went into a crash loop since the agent started, by environment."""

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._supervised

    def records(self) -> list[InstanceRecord]:
        """The records of every instance supervised, in no particular order."""
        return [supervised.record for supervised in self._supervised.values()]

    def record(self, instance_id: str) -> InstanceRecord:
        """The record of one instance."""
        try:
            return self._supervised[instance_id].record
        except KeyError:
            raise NotFoundError(f"there is no instance {instance_id!r} on this agent.") from None

    def log_of(self, instance_id: str) -> InstanceLog:
        """The log of an instance (which may outlive it)."""
        return InstanceLog(
            self.logs_dir / f"{instance_id}.log",
            max_bytes=self.policy.log_max_bytes,
            keep=self.policy.log_keep,
        )

    async def launch(self, record: InstanceRecord) -> None:
        """Start a new instance and supervise it; a UsageError when it cannot start."""
        supervised = _Supervised(record, self.log_of(record.id))
        try:
            self._spawn(supervised)
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"instance {record.id} could not start: {_reason(exc)}; check its command, "
                "directory and environment."
            ) from exc
        self._supervised[record.id] = supervised
        await self._changed(supervised)
        supervised.task = asyncio.create_task(self._watch(supervised), name=record.id)

    async def resume(self, record: InstanceRecord) -> None:
        """Supervise an instance an earlier agent recorded: adopt its process if it still
        runs, restart it if it died, finish stopping it if it was being stopped."""
        supervised = _Supervised(record, self.log_of(record.id))
        self._supervised[record.id] = supervised
        if record.phase is InstancePhase.CRASH_LOOP:
            return
        if record.pid is not None:
            supervised.process = InstanceProcess.adopt(record.id, record.pid, record.start_ticks)
        if record.phase is InstancePhase.STOPPING:
            supervised.stopping = asyncio.create_task(self._stop(supervised))
            return
        if supervised.process is not None:
            running_for = time.time() - (record.started_at or time.time())
            supervised.started = self._clock() - max(0.0, running_for)
            if record.phase is not InstancePhase.READY:
                record.phase = InstancePhase.STARTING
            record.message = f"re-adopted by a restarted agent ({record.phase.value})."
            supervised.log.note(f"process {record.pid} re-adopted by a restarted agent")
            await self._changed(supervised)
        supervised.task = asyncio.create_task(self._watch(supervised), name=record.id)

    async def stop(self, instance_id: str) -> InstanceStatus:
        """Drain and stop an instance, and stop supervising it; its final status.

        The stop goes on even if the caller gives up waiting for it.
        """
        supervised = self._supervised.get(instance_id)
        if supervised is None:
            raise NotFoundError(f"there is no instance {instance_id!r} on this agent.")
        if supervised.stopping is None:
            supervised.stopping = asyncio.create_task(self._stop(supervised))
        return await asyncio.shield(supervised.stopping)

    async def detach(self) -> None:
        """Stop supervising and leave every process running (the agent is going away)."""
        tasks = [
            task
            for supervised in self._supervised.values()
            for task in (supervised.task, supervised.stopping)
            if task is not None and not task.done()
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for supervised in self._supervised.values():
            if supervised.process is not None:
                supervised.process.let_go()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- acting ------------------------------------------------------------------------

    def _spawn(self, supervised: _Supervised) -> None:
        record, spec = supervised.record, supervised.record.spec
        env = inherited_environment()
        env.update(spec.env)
        env.update(
            {
                "PORT": str(record.port),
                "ANDON_ENV": spec.environment,
                "ANDON_VERSION": spec.version,
                "ANDON_INSTANCE": record.id,
            }
        )
        supervised.log.note(
            f"starting version {spec.version} on port {record.port}: {spec.command}"
        )
        process = InstanceProcess.spawn(
            record.id, spec.command, cwd=spec.cwd, env=env, log=supervised.log.path
        )
        supervised.process = process
        supervised.started = self._clock()
        supervised.failures = 0
        record.pid, record.start_ticks, record.started_at = process.pid, process.ticks, time.time()
        record.phase = InstancePhase.STARTING
        record.message = f"starting: process {process.pid} started."
        record.draining = False
        record.log_tail = ()

    async def _watch(self, supervised: _Supervised) -> None:
        """Watch one instance until it is stopped or in a crash loop."""
        record = supervised.record
        if supervised.process is None and not await self._revive(supervised):
            return
        next_check = next_rotation = self._clock()
        while True:
            try:
                process = supervised.process
                assert process is not None
                if process.has_exited():
                    cause = (
                        "exited (its exit code is unknown: an earlier agent started it)"
                        if process.adopted
                        else describe_exit(process.exit_code)
                    )
                    if not await self._after_exit(supervised, process.exit_code, cause):
                        return
                    next_check = self._clock()
                    continue
                now = self._clock()
                if now >= next_check:
                    if await self._check(supervised, now):
                        await self._restart(supervised, "unhealthy")
                        next_check = self._clock()
                        continue
                    starting = record.phase is InstancePhase.STARTING
                    interval = (
                        self.policy.readiness_interval
                        if starting
                        else self.policy.liveness_interval
                    )
                    next_check = self._clock() + interval
                if now >= next_rotation:
                    supervised.log.rotate_if_needed()
                    next_rotation = now + self.policy.rotate_interval
            except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
                raise
            except Exception:
                # One bad look (a full disk, a vanished file) must not end the supervision.
                log.exception("supervising instance %s failed; trying again", record.id)
            await asyncio.sleep(self.policy.poll_interval)

    async def _revive(self, supervised: _Supervised) -> bool:
        """Bring back an instance found without a process after an agent restart."""
        record = supervised.record
        if record.phase is InstancePhase.CRASHED:
            # It was waiting out its backoff when the agent stopped: that wait is over.
            return await self._restart(supervised, "crash")
        return await self._after_exit(supervised, None, describe_exit(None))

    async def _after_exit(self, supervised: _Supervised, code: int | None, cause: str) -> bool:
        """Record an exit, wait out the backoff and restart (True), or give up on a crash
        loop (False)."""
        record = supervised.record
        while True:
            now = self._clock()
            ran_for = now - supervised.started if supervised.process is not None else 0.0
            if supervised.process is not None:
                supervised.process.kill_leftovers()
                supervised.process = None
            decision = decide_after_exit(supervised.history, cause, ran_for, now, self.policy)
            supervised.history = decision.history
            record.phase, record.message = decision.phase, decision.message
            record.last_exit_code, record.pid, record.start_ticks = code, None, None
            log.warning("instance %s: %s", record.id, decision.message)
            if decision.delay is None:
                record.log_tail = tuple(supervised.log.tail(self.policy.log_tail_lines))
                supervised.log.note(decision.message)
                self.crash_loops[record.spec.environment] += 1
                await self._changed(supervised)
                return False
            supervised.log.note(decision.message)
            await self._changed(supervised)
            await asyncio.sleep(decision.delay)
            try:
                self._spawn(supervised)
            except (OSError, ValueError) as exc:
                code, cause = None, f"could not start: {_reason(exc)}"
                continue
            record.restarts += 1
            self.restarts[(record.spec.environment, "crash")] += 1
            await self._changed(supervised)
            return True

    async def _restart(self, supervised: _Supervised, reason: str) -> bool:
        """Stop what runs of the instance and start it again at once."""
        record = supervised.record
        if supervised.process is not None:
            supervised.log.note(f"restarting ({reason}): SIGTERM sent to its process group")
            await supervised.process.terminate(record.spec.stop_timeout)
        try:
            self._spawn(supervised)
        except (OSError, ValueError) as exc:
            supervised.process = None
            return await self._after_exit(supervised, None, f"could not start: {_reason(exc)}")
        record.restarts += 1
        self.restarts[(record.spec.environment, reason)] += 1
        await self._changed(supervised)
        return True

    async def _check(self, supervised: _Supervised, now: float) -> bool:
        """Check the instance's health, record the verdict; True when it must restart."""
        record = supervised.record
        probe = await self._probe(record) if record.spec.health_path else None
        verdict = assess_check(
            record.phase, supervised.failures, probe, now - supervised.started, self.policy
        )
        supervised.failures = verdict.failures
        if (verdict.phase, verdict.message) != (record.phase, record.message):
            if verdict.phase is not record.phase:
                log.info("instance %s: %s", record.id, verdict.message)
                supervised.log.note(verdict.message)
            record.phase, record.message = verdict.phase, verdict.message
            await self._changed(supervised)
        return verdict.restart

    async def _probe(self, record: InstanceRecord) -> Probe:
        path = record.spec.health_path
        if self._http is None:
            # No proxy from the environment: the instance is on this host.
            self._http = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        try:
            response = await self._http.get(
                f"http://127.0.0.1:{record.port}{path}", timeout=self.policy.health_timeout
            )
        except httpx.TimeoutException:
            return Probe(False, f"GET {path} did not answer in {self.policy.health_timeout:g}s")
        except httpx.HTTPError as exc:
            reason = "connection refused" if isinstance(exc, httpx.ConnectError) else str(exc)
            return Probe(False, f"GET {path}: {reason or type(exc).__name__}")
        ok = 200 <= response.status_code < 400
        return Probe(ok, f"GET {path} answered {response.status_code}")

    async def _stop(self, supervised: _Supervised) -> InstanceStatus:
        record = supervised.record
        if supervised.task is not None:
            supervised.task.cancel()
            await asyncio.wait({supervised.task})
        serving = record.phase is InstancePhase.READY and not record.draining
        record.phase, record.draining = InstancePhase.STOPPING, True
        record.message = "stopping: draining." if serving else "stopping."
        await self._changed(supervised)
        if serving and self.policy.drain_seconds > 0:
            # Routing has been told; requests in flight get this long to finish.
            await asyncio.sleep(self.policy.drain_seconds)
        if supervised.process is None and record.pid is not None:
            supervised.process = InstanceProcess.adopt(record.id, record.pid, record.start_ticks)
        process = supervised.process
        message = "stopped."
        if process is not None:
            supervised.log.note("stopping: SIGTERM sent to its process group")
            timeout = record.spec.stop_timeout
            if await process.terminate(timeout):
                message = "stopped: it exited on SIGTERM."
            else:
                message = f"stopped: killed with SIGKILL, still running {timeout:g}s after SIGTERM."
            record.last_exit_code = process.exit_code
        supervised.log.note(message)
        record.phase, record.message = InstancePhase.STOPPED, message
        record.pid = record.start_ticks = None
        supervised.process = None
        self._supervised.pop(record.id, None)
        await self._changed(supervised)
        return record.status()

    async def _changed(self, supervised: _Supervised) -> None:
        if self._on_change is not None:
            await self._on_change(supervised.record)


def _reason(error: OSError | ValueError) -> str:
    """Why a process could not start, in words."""
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror.lower()
        return f"{text}: {error.filename}" if error.filename else text
    # ValueError: an environment value with a NUL byte, which no process can be given.
    return str(error)
