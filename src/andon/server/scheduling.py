"""The pipeline scheduler: watches the trunk of every registered project, queues one
pipeline per new commit in commit order, and runs queued pipelines — one at a time per
project, projects side by side. Started and stopped with the server (its lifespan). Its
tick also drives the other periodic controllers it is given (the TTL reaper and the
drift checker of environments).

On start it marks pipelines left running by a server that died as interrupted and queues
them again, so none stays "running" forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from andon.errors import AndonError, ConflictError, NotFoundError
from andon.pipeline import PipelineRunner, reap_orphans
from andon.repos import GitRepository
from andon.server.waking import woken
from andon.settings import Settings
from andon.store import JobStatus, PipelineRecord, PipelineStatus, ProjectRecord, Store

STOP_TIMEOUT_S = 15.0
"""How long stopping waits for the pipelines it cancelled."""

log = logging.getLogger("andon.server.scheduler")

Periodic = Callable[[datetime], Awaitable[object]]
"""A controller the scheduler's tick drives, given the time of the tick."""

MAX_NEW_COMMITS = 50
"""Commits queued at once after a large push; older ones are left out (the newest count)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class PipelineScheduler:
    """Queues and runs pipelines for all projects."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        runner: PipelineRunner,
        *,
        clock: Callable[[], datetime] = _utc_now,
        periodic: Sequence[Periodic] = (),
    ) -> None:
        self.store = store
        self.settings = settings
        self.runner = runner
        self.clock = clock
        self.periodic = list(periodic)
        self._wake = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancels: dict[int, asyncio.Event] = {}
        self._loop: asyncio.Task[None] | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        """Recover what a dead server left, then watch and run in the background."""
        self.recover()
        self._event_loop = asyncio.get_running_loop()
        self._loop = asyncio.create_task(self._run_forever(), name="andon-scheduler")

    async def stop(self) -> None:
        """Stop watching; running pipelines are cancelled in place and, being left
        running in the store, are rerun by the next start."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        # Bounded: a server that stops must stop, even if a job's cleanup never ends; what
        # is left is said in the log, with where it waits, and rerun at the next start.
        _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
        for task in stuck:
            where = "".join(f"\n  {frame}" for frame in task.get_stack(limit=8))
            log.error(
                "%s did not end within %gs of being cancelled:%s",
                task.get_name(),
                STOP_TIMEOUT_S,
                where,
            )
        for task in tasks:
            if task.done() and not task.cancelled():
                with contextlib.suppress(Exception):
                    task.result()

    def wake(self) -> None:
        """Look at trunks and queues now rather than at the next interval. Safe to call
        from any thread: the API queues pipelines from its worker threads."""
        self._in_loop(self._wake.set)

    def _in_loop(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` on the loop the scheduler runs in. An asyncio.Event is not
        thread-safe: set from another thread, the task waiting on it may never wake."""
        owner = self._event_loop
        if owner is None or _running_loop() is owner:
            callback()
            return
        with contextlib.suppress(RuntimeError):  # that loop has closed; nobody waits
            owner.call_soon_threadsafe(callback)

    def recover(self) -> list[PipelineRecord]:
        """Mark unfinished pipelines interrupted and queue each again; returns the reruns."""
        reruns = []
        for pipeline in self.store.pipelines.unfinished():
            if pipeline.status is PipelineStatus.QUEUED:
                continue
            now = self.clock()
            # Jobs of a server that died keep running as orphans; stop them first.
            reaped = reap_orphans(self.runner.log_dir(pipeline.id).glob("*.pid"))
            if reaped:
                log.info("stopped %d orphaned job(s) of pipeline #%d", reaped, pipeline.id)
            for job in self.store.jobs.list_for_pipeline(pipeline.id):
                if not job.status.finished:
                    self.store.jobs.update(
                        job.id,
                        status=JobStatus.CANCELED,
                        finished_at=now,
                        reason="interrupted: the server stopped while it ran",
                    )
            self.store.pipelines.update(
                pipeline.id,
                status=PipelineStatus.INTERRUPTED,
                finished_at=now,
                error="the server stopped while this pipeline ran; it was queued again",
            )
            rerun = self.store.pipelines.create(
                project=pipeline.project,
                commit=pipeline.commit,
                branch=pipeline.branch,
                trigger="rerun",
                on_trunk=pipeline.on_trunk,
                rerun_of=pipeline.id,
            )
            log.info("pipeline #%d was interrupted; queued again as #%d", pipeline.id, rerun.id)
            reruns.append(rerun)
        return reruns

    # -- queueing --------------------------------------------------------------------

    def queue(
        self, project: ProjectRecord, commit: str, *, branch: str, trigger: str
    ) -> PipelineRecord:
        """Queue a pipeline for ``commit`` and wake the scheduler."""
        pipeline = self.store.pipelines.create(
            project=project.name,
            commit=commit,
            branch=branch,
            trigger=trigger,
            on_trunk=branch == project.trunk,
        )
        self.wake()
        return pipeline

    def poll(self, project: ProjectRecord) -> list[PipelineRecord]:
        """Queue a pipeline for each trunk commit not seen yet, oldest first (blocking)."""
        repo = GitRepository.open(
            project.source, mirrors=self.settings.repos_dir, name=project.name
        )
        tip = repo.resolve(project.trunk)
        # A commit that ran on a branch runs again once on trunk: only that run judges trunk.
        known = self.store.pipelines.known_commits(project.name, on_trunk=True)
        if tip in known:
            return []
        last = next(
            (p for p in self.store.pipelines.list(project=project.name, limit=200) if p.on_trunk),
            None,
        )
        # A project's first pipeline is for the tip alone, not for its whole history.
        commits = [tip]
        if last is not None:
            try:
                commits = repo.commits_since(tip, last.commit, MAX_NEW_COMMITS)
                # Commits on the last built one that trunk no longer has: history was
                # rewritten (reset, force-push). Walking from there would queue a history
                # nobody pushed as new; as for a first pipeline, build the tip alone.
                if repo.commits_since(last.commit, tip, 1):
                    commits = [tip]
            except NotFoundError:
                # History was rewritten and the last built commit is gone: build the tip.
                commits = [tip]
        queued = []
        for commit in commits:
            if commit not in known:
                queued.append(
                    self.store.pipelines.create(
                        project=project.name,
                        commit=commit,
                        branch=project.trunk,
                        trigger="poll",
                        on_trunk=True,
                    )
                )
        return queued

    def cancel(self, pipeline_id: int) -> PipelineRecord:
        """Cancel a queued or running pipeline."""
        pipeline = self.store.pipelines.get(pipeline_id)
        if pipeline.status.finished:
            raise ConflictError(f"pipeline #{pipeline_id} has finished ({pipeline.status.value}).")
        if pipeline_id in self._cancels:
            self._in_loop(self._cancels[pipeline_id].set)
            return pipeline
        return self.store.pipelines.update(
            pipeline_id,
            status=PipelineStatus.CANCELED,
            finished_at=self.clock(),
            error="canceled before it started",
        )

    # -- running ---------------------------------------------------------------------

    async def _run_forever(self) -> None:
        while True:
            # Cleared before the tick, not after the wait: a wake-up that comes while the
            # tick runs, or between the wait ending and this line (a pipeline task ending
            # a moment after the wake that found it still running), is kept for the next.
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("the scheduler's tick failed; trying again at the next one")
            await woken(self._wake, self.settings.poll_interval)

    async def tick(self) -> None:
        """Poll every project's trunk once, start what is queued, then run the periodic
        controllers."""
        for project in self.store.projects.list():
            try:
                await asyncio.to_thread(self.poll, project)
            except (AndonError, OSError) as exc:
                message = exc.message if isinstance(exc, AndonError) else str(exc)
                log.warning("cannot poll project %s: %s", project.name, message)
        self.dispatch()
        for controller in self.periodic:
            # One controller failing must not keep the others (or the pipelines) from running.
            try:
                await controller(self.clock())
            except Exception:
                log.exception("a periodic controller failed; trying again at the next tick")

    def dispatch(self) -> None:
        """Start the oldest queued pipeline of each project that runs none."""
        self._event_loop = asyncio.get_running_loop()
        queued = self.store.pipelines.list(statuses=[PipelineStatus.QUEUED], limit=1000)
        for pipeline in sorted(queued, key=lambda p: p.id):
            task = self._tasks.get(pipeline.project)
            if task is not None and not task.done():
                continue
            self._tasks[pipeline.project] = asyncio.create_task(
                self._run(pipeline.id), name=f"pipeline-{pipeline.id}"
            )

    async def _run(self, pipeline_id: int) -> None:
        cancel = asyncio.Event()
        self._cancels[pipeline_id] = cancel
        try:
            await self.runner.run(pipeline_id, cancel)
        except NotFoundError as exc:
            log.warning("pipeline #%d cannot run: %s", pipeline_id, exc.message)
            self.store.pipelines.update(
                pipeline_id,
                status=PipelineStatus.FAILED,
                error=exc.message,
                finished_at=self.clock(),
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pipeline #%d failed unexpectedly", pipeline_id)
            self.store.pipelines.update(
                pipeline_id,
                status=PipelineStatus.FAILED,
                finished_at=self.clock(),
                error="Andon failed unexpectedly while running this pipeline; see the server log",
            )
        finally:
            self._cancels.pop(pipeline_id, None)
            self.wake()
