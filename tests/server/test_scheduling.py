"""The pipeline scheduler over a real SQLite store and real git repositories: recovering
from a dead server, polling trunk, canceling, and running queued pipelines with the real
runner (jobs as real processes)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from andon.errors import ConflictError
from andon.pipeline import PipelineRunner
from andon.server.scheduling import PipelineScheduler
from andon.settings import Settings
from andon.store import (
    JobStatus,
    NewJob,
    PipelineRecord,
    PipelineStatus,
    ProjectRecord,
    Store,
    open_store,
)
from andon.testing import git

T = TypeVar("T")


SPEC = """\
service: {name: svc}
processes: {web: {command: python app.py}}
build:
  compile: {command: "echo compiled"}
package:
  paths: [app.py]
environments:
  prod: {}
"""


def commit(repo: Path, message: str, files: dict[str, str] | None = None) -> str:
    for name, text in (files or {message.replace(" ", "_") + ".txt": message}).items():
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def settings(andon_home: Path) -> Settings:
    return Settings.from_env({"ANDON_HOME": str(andon_home), "ANDON_POLL_INTERVAL": "60"})


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with open_store(settings.database_url) as opened:
        yield opened


@pytest.fixture
def scheduler(store: Store, settings: Settings) -> PipelineScheduler:
    return PipelineScheduler(store, settings, PipelineRunner(store, settings, concurrency=2))


@pytest.fixture
def repo(tmp_path: Path, repo_factory: Callable[..., Path]) -> Path:
    return repo_factory(tmp_path / "svc", {"andon.yaml": SPEC, "app.py": "print('hi')\n"})


@pytest.fixture
def project(store: Store, repo: Path) -> ProjectRecord:
    return store.projects.add(
        name="svc",
        source=str(repo),
        subdir="",
        trunk="main",
        service="svc",
        commit=git(repo, "rev-parse", "HEAD"),
        spec={},
    )


def queued(store: Store) -> list[PipelineRecord]:
    """The queued pipelines, oldest first."""
    return sorted(
        store.pipelines.list(statuses=[PipelineStatus.QUEUED], limit=500), key=lambda p: p.id
    )


class TestRecover:
    def test_a_running_pipeline_is_interrupted_and_queued_again(
        self, store: Store, scheduler: PipelineScheduler, project: ProjectRecord
    ) -> None:
        sha = project.commit
        left = store.pipelines.create(
            project="svc", commit=sha, branch="main", trigger="poll", on_trunk=True
        )
        store.pipelines.update(left.id, status=PipelineStatus.RUNNING, started_at=scheduler.clock())
        done, running, _pending = store.jobs.create_many(
            left.id,
            [
                NewJob(name="compile", job="compile", stage="build"),
                NewJob(name="unit", job="unit", stage="test", needs=["compile"]),
                NewJob(name="package", job="package", stage="package", needs=["unit"]),
            ],
        )
        store.jobs.update(done.id, status=JobStatus.SUCCESS, reason="exit code 0")
        store.jobs.update(running.id, status=JobStatus.RUNNING)
        waiting = store.pipelines.create(
            project="svc", commit=sha, branch="x", trigger="hook", on_trunk=False
        )

        (rerun,) = scheduler.recover()

        interrupted = store.pipelines.get(left.id)
        assert interrupted.status is PipelineStatus.INTERRUPTED
        assert interrupted.finished_at is not None and "queued again" in (interrupted.error or "")
        jobs = {job.name: job for job in store.jobs.list_for_pipeline(left.id)}
        assert jobs["compile"].status is JobStatus.SUCCESS
        assert jobs["unit"].status is JobStatus.CANCELED and "interrupted" in jobs["unit"].reason
        assert jobs["package"].status is JobStatus.CANCELED
        assert (rerun.trigger, rerun.rerun_of, rerun.status) == (
            "rerun",
            left.id,
            PipelineStatus.QUEUED,
        )
        assert (rerun.commit, rerun.branch, rerun.on_trunk) == (sha, "main", True)
        assert store.pipelines.get(waiting.id).status is PipelineStatus.QUEUED
        assert [p.id for p in queued(store)] == [waiting.id, rerun.id]

    def test_recovering_again_queues_nothing_more(
        self, store: Store, scheduler: PipelineScheduler, project: ProjectRecord
    ) -> None:
        left = store.pipelines.create(
            project="svc", commit=project.commit, branch="main", trigger="poll", on_trunk=True
        )
        store.pipelines.update(left.id, status=PipelineStatus.RUNNING)
        assert len(scheduler.recover()) == 1
        assert scheduler.recover() == []
        assert len(store.pipelines.list(project="svc")) == 2


class TestPoll:
    def test_a_first_poll_queues_the_tip_alone_and_later_ones_each_new_commit_in_order(
        self, store: Store, scheduler: PipelineScheduler, project: ProjectRecord, repo: Path
    ) -> None:
        commit(repo, "second")
        tip = commit(repo, "third")

        (first,) = scheduler.poll(project)
        assert (first.commit, first.branch, first.trigger, first.on_trunk) == (
            tip,
            "main",
            "poll",
            True,
        )
        assert scheduler.poll(project) == []

        new = [commit(repo, name) for name in ("fourth", "fifth", "sixth")]
        polled = scheduler.poll(project)
        assert [p.commit for p in polled] == new
        assert [p.id for p in polled] == sorted(p.id for p in polled)
        assert all(p.on_trunk and p.trigger == "poll" for p in polled)
        assert scheduler.poll(project) == []
        assert len(store.pipelines.list(project="svc")) == 4

    def test_commits_on_other_branches_are_not_polled(
        self, scheduler: PipelineScheduler, project: ProjectRecord, repo: Path
    ) -> None:
        scheduler.poll(project)
        git(repo, "checkout", "-qb", "feature")
        commit(repo, "on a branch")
        assert scheduler.poll(project) == []

    def test_a_commit_built_on_a_branch_is_built_again_once_it_is_on_trunk(
        self, store: Store, scheduler: PipelineScheduler, project: ProjectRecord, repo: Path
    ) -> None:
        scheduler.poll(project)
        git(repo, "checkout", "-qb", "feature")
        sha = commit(repo, "feature work")
        scheduler.queue(project, sha, branch="feature", trigger="hook")
        git(repo, "checkout", "-q", "main")
        git(repo, "merge", "-q", "--ff-only", "feature")

        (polled,) = scheduler.poll(project)
        assert polled.commit == sha and polled.on_trunk

    def test_an_amended_tip_queues_the_new_tip(
        self, scheduler: PipelineScheduler, project: ProjectRecord, repo: Path
    ) -> None:
        commit(repo, "second")
        scheduler.poll(project)
        git(repo, "commit", "-q", "--amend", "-m", "second, reworded")
        tip = git(repo, "rev-parse", "HEAD")

        assert [p.commit for p in scheduler.poll(project)] == [tip]

    def test_trunk_reset_to_a_new_root_queues_the_tip_alone(
        self, scheduler: PipelineScheduler, project: ProjectRecord, repo: Path
    ) -> None:
        scheduler.poll(project)
        git(repo, "checkout", "-q", "--orphan", "fresh")
        commit(repo, "a new beginning", {"andon.yaml": SPEC, "app.py": "print('new')\n"})
        tip = commit(repo, "more on the new root")
        git(repo, "branch", "-M", "fresh", "main")

        assert [p.commit for p in scheduler.poll(project)] == [tip]

    def test_a_last_built_commit_that_is_gone_queues_the_tip(
        self, scheduler: PipelineScheduler, project: ProjectRecord, repo: Path
    ) -> None:
        commit(repo, "second")
        scheduler.poll(project)
        git(repo, "reset", "-q", "--hard", "HEAD~1")
        tip = commit(repo, "second, done again")
        # Drop the unreachable commit for good, as a garbage collection would.
        git(repo, "reflog", "expire", "--expire=now", "--all")
        git(repo, "gc", "-q", "--prune=now")

        assert [p.commit for p in scheduler.poll(project)] == [tip]


class TestCancel:
    def test_canceling_a_queued_pipeline_marks_it_canceled(
        self, store: Store, scheduler: PipelineScheduler, project: ProjectRecord
    ) -> None:
        pipeline = scheduler.queue(project, project.commit, branch="main", trigger="manual")

        canceled = scheduler.cancel(pipeline.id)

        assert canceled.status is PipelineStatus.CANCELED
        assert canceled.finished_at is not None and canceled.error == "canceled before it started"
        assert queued(store) == []

    def test_canceling_a_finished_pipeline_is_a_conflict(
        self, store: Store, scheduler: PipelineScheduler, project: ProjectRecord
    ) -> None:
        pipeline = scheduler.queue(project, project.commit, branch="main", trigger="manual")
        store.pipelines.update(pipeline.id, status=PipelineStatus.SUCCESS)

        with pytest.raises(ConflictError, match="has finished"):
            scheduler.cancel(pipeline.id)
        assert store.pipelines.get(pipeline.id).status is PipelineStatus.SUCCESS


async def wait_until(
    condition: Callable[[], bool], *, timeout: float = 30.0, store: Store | None = None
) -> None:
    """Let the loop run until ``condition`` holds; fail after ``timeout`` seconds, saying
    where each pipeline of ``store`` and its jobs stand and what the scheduler logged."""
    deadline = time.monotonic() + timeout
    records = _Recorded()
    logging.getLogger("andon").addHandler(records)
    try:
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"still waiting after {timeout}s for {condition}; {_where(store)}; "
                    f"logged: {records.lines or 'nothing'}"
                )
            await asyncio.sleep(0.05)
    finally:
        logging.getLogger("andon").removeHandler(records)


class _Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


def _where(store: Store | None) -> str:
    if store is None:
        return "no store to describe"
    described = []
    for pipeline in store.pipelines.list(limit=20):
        jobs = ", ".join(
            f"{job.name} {job.status.value}" for job in store.jobs.list_for_pipeline(pipeline.id)
        )
        described.append(
            f"#{pipeline.id} {pipeline.status.value} ({pipeline.error or 'no error'}; "
            f"jobs: {jobs or 'none'})"
        )
    return "pipelines: " + ("; ".join(described) or "none")


def finished(store: Store, *ids: int) -> Callable[[], bool]:
    return lambda: all(store.pipelines.get(i).status.finished for i in ids)


def run_in_debug_loop(scenario: Callable[[], Coroutine[Any, Any, T]], timeout: float = 110) -> T:
    """Run ``scenario`` in an event loop in debug mode, which raises on any call into the
    loop from a thread other than its own; fail, rather than hang, if the loop never ends
    (a task waiting on an event set from another thread may never wake)."""
    outcome: dict[str, Any] = {}

    async def watched() -> T:
        outcome["loop"] = asyncio.get_running_loop()
        return await scenario()

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(watched(), debug=True)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="debug-loop", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        # Where each task of the loop waits (read from this thread: for the report only).
        tasks = "\n".join(
            f"task {task.get_name()}:\n"
            + "".join(
                f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}\n"
                for frame in task.get_stack()
            )
            for task in asyncio.all_tasks(outcome["loop"])
        )
        pytest.fail(f"the event loop still ran after {timeout}s; a task never woke\n{tasks}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


class TestRunning:
    def test_dispatch_runs_one_pipeline_of_a_project_at_a_time_in_queue_order(
        self, store: Store, scheduler: PipelineScheduler, project: ProjectRecord, repo: Path
    ) -> None:
        older = scheduler.queue(project, project.commit, branch="main", trigger="poll")
        changed = commit(repo, "change the app", {"app.py": "print('v2')\n"})
        newer = scheduler.queue(project, changed, branch="main", trigger="poll")

        async def scenario() -> None:
            scheduler.dispatch()
            scheduler.dispatch()
            assert store.pipelines.get(newer.id).status is PipelineStatus.QUEUED
            await wait_until(finished(store, older.id), store=store)
            scheduler.dispatch()
            await wait_until(finished(store, newer.id), store=store)

        asyncio.run(scenario())

        first, second = store.pipelines.get(older.id), store.pipelines.get(newer.id)
        assert first.status is second.status is PipelineStatus.SUCCESS
        assert first.finished_at and second.started_at and first.finished_at <= second.started_at
        assert first.artifact and second.artifact and first.artifact != second.artifact

    def test_canceling_a_running_pipeline_from_another_thread_stops_its_jobs(
        self, store: Store, scheduler: PipelineScheduler, project: ProjectRecord, repo: Path
    ) -> None:
        """The API cancels from its worker threads."""
        slow = SPEC.replace('"echo compiled"', '"sleep 30"')
        sha = commit(repo, "slow build", {"andon.yaml": slow})
        pipeline = scheduler.queue(project, sha, branch="main", trigger="manual")

        def compiling() -> bool:
            jobs = store.jobs.list_for_pipeline(pipeline.id)
            return any(j.name == "compile" and j.status is JobStatus.RUNNING for j in jobs)

        async def scenario() -> PipelineRecord:
            scheduler.dispatch()
            await wait_until(compiling)
            await asyncio.to_thread(scheduler.cancel, pipeline.id)
            await wait_until(finished(store, pipeline.id), timeout=10)
            return store.pipelines.get(pipeline.id)

        started = time.monotonic()
        assert run_in_debug_loop(scenario).status is PipelineStatus.CANCELED
        assert time.monotonic() - started < 15, "the job ran on after it was canceled"
        assert store.jobs.get_by_name(pipeline.id, "compile").status is JobStatus.CANCELED

    def test_a_pipeline_queued_from_another_thread_starts_without_waiting_for_the_next_poll(
        self, store: Store, scheduler: PipelineScheduler, project: ProjectRecord
    ) -> None:
        """The API queues from its worker threads; the poll interval here is a minute."""

        async def scenario() -> None:
            scheduler.start()
            try:
                await wait_until(lambda: bool(store.pipelines.list(project="svc")), store=store)
                (first,) = store.pipelines.list(project="svc")
                await wait_until(finished(store, first.id), store=store)
                # The scheduler now sleeps until woken or a minute has passed.
                await asyncio.sleep(0.2)
                again = await asyncio.to_thread(
                    scheduler.queue, project, project.commit, branch="main", trigger="manual"
                )
                # Well within the minute the next poll would take, even on a loaded machine.
                await wait_until(finished(store, again.id), store=store)
            finally:
                await scheduler.stop()

        run_in_debug_loop(scenario)
