"""Running one pipeline: plan the jobs andon.yaml declares at the commit, run them in
clean workspaces (reusing cached results), package the artifact, and tell the line.

The server's scheduler calls :meth:`PipelineRunner.run` for each queued pipeline; every
transition is written to the store at once, so a server that dies mid-pipeline leaves a
record the scheduler can mark interrupted and run again.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from andon.artifacts.building import build_artifact
from andon.artifacts.local_store import LocalArtifactStore
from andon.errors import AndonError, SpecError
from andon.pipeline.caching import CacheDirectories, compute_cache_key
from andon.pipeline.junit import TestReport, parse_reports
from andon.pipeline.line import FinishedPipeline, LineChange, decide_after_pipeline
from andon.pipeline.line_store import line_view, record_change
from andon.pipeline.logs import LogSink
from andon.pipeline.planning import PlannedJob, assess_pipeline, decide_next, plan_pipeline
from andon.pipeline.running import run_job_command
from andon.pipeline.workspaces import WorkspaceFactory
from andon.repos import GitRepository
from andon.settings import Settings
from andon.spec import AndonSpec, parse_spec
from andon.store import JobStatus, NewJob, PipelineRecord, PipelineStatus, ProjectRecord, Store

Clock = Callable[[], datetime]
LineListener = Callable[[str, LineChange], None]

# Variables a job inherits from the server; everything else it gets is declared.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "SHELL", "TZ")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _file_name(job_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", job_name)


class PipelineRunner:
    """Runs pipelines against a store, with jobs as local processes."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        concurrency: int | None = None,
        clock: Clock = _utc_now,
        on_line_change: LineListener | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.concurrency = max(1, concurrency or os.cpu_count() or 1)
        self.clock = clock
        self.on_line_change = on_line_change
        self.artifacts = LocalArtifactStore(settings.home / "artifacts")

    def log_dir(self, pipeline_id: int) -> Path:
        """Where a pipeline's logs are kept."""
        return self.settings.home / "logs" / "pipelines" / str(pipeline_id)

    async def run(self, pipeline_id: int, cancel: asyncio.Event | None = None) -> PipelineRecord:
        """Run a queued pipeline to its end and return its final record."""
        pipeline = self.store.pipelines.update(
            pipeline_id, status=PipelineStatus.RUNNING, started_at=self.clock()
        )
        project = self.store.projects.get(pipeline.project)
        logs = self.log_dir(pipeline_id)
        logs.mkdir(parents=True, exist_ok=True)
        try:
            repo, spec = await asyncio.to_thread(self._read_spec, project, pipeline)
        except SpecError as exc:
            lines = exc.lines()
            (logs / "pipeline.log").write_text("\n".join(lines) + "\n", "utf-8")
            return self._finish(pipeline, PipelineStatus.FAILED, error="\n".join(lines))
        except AndonError as exc:
            (logs / "pipeline.log").write_text(exc.message + "\n", "utf-8")
            # The repository, not the code, failed: the line is left as it is.
            return self._finish(
                pipeline, PipelineStatus.FAILED, error=exc.message, judge_line=False
            )
        try:
            run = _Run(
                self,
                project=project,
                pipeline=pipeline,
                repo=repo,
                spec=spec,
                cancel=cancel or asyncio.Event(),
            )
        except AndonError as exc:
            (logs / "pipeline.log").write_text(exc.message + "\n", "utf-8")
            return self._finish(pipeline, PipelineStatus.FAILED, error=exc.message)
        try:
            status, failing_tests = await run.execute()
        finally:
            await asyncio.to_thread(run.workspaces.remove_all)
        return self._finish(pipeline, status, artifact=run.artifact, failing_tests=failing_tests)

    def _read_spec(
        self, project: ProjectRecord, pipeline: PipelineRecord
    ) -> tuple[GitRepository, AndonSpec]:
        repo = GitRepository.open(
            project.source, mirrors=self.settings.repos_dir, name=project.name
        )
        prefix = f"{project.subdir}/" if project.subdir else ""
        raw = repo.read(pipeline.commit, f"{prefix}andon.yaml")

        def exists(relative: str) -> bool:
            return repo.exists(pipeline.commit, f"{prefix}{relative}")

        return repo, parse_spec(raw, source=f"{prefix}andon.yaml", file_exists=exists)

    def _finish(
        self,
        pipeline: PipelineRecord,
        status: PipelineStatus,
        *,
        error: str | None = None,
        artifact: str | None = None,
        failing_tests: list[str] | None = None,
        judge_line: bool = True,
    ) -> PipelineRecord:
        now = self.clock()
        finished = self.store.pipelines.update(
            pipeline.id, status=status, error=error, finished_at=now, artifact=artifact
        )
        if judge_line and status in {PipelineStatus.SUCCESS, PipelineStatus.FAILED}:
            failing_jobs = [
                job.name
                for job in self.store.jobs.list_for_pipeline(pipeline.id)
                if job.status in {JobStatus.FAILED, JobStatus.INFRA_FAILED}
            ]
            if error and not failing_jobs:
                failing_jobs = ["andon.yaml"]
            change = decide_after_pipeline(
                line_view(self.store, pipeline.project),
                FinishedPipeline(
                    id=pipeline.id,
                    commit=pipeline.commit,
                    success=status is PipelineStatus.SUCCESS,
                    on_trunk=pipeline.on_trunk,
                    created_at=pipeline.created_at,
                    failing_jobs=failing_jobs,
                    failing_tests=failing_tests or [],
                ),
                now,
            )
            if change is not None:
                record_change(self.store, pipeline.project, change)
                if self.on_line_change is not None:
                    self.on_line_change(pipeline.project, change)
        return finished


class _Run:
    """The state of one pipeline while it runs."""

    def __init__(
        self,
        runner: PipelineRunner,
        *,
        project: ProjectRecord,
        pipeline: PipelineRecord,
        repo: GitRepository,
        spec: AndonSpec,
        cancel: asyncio.Event,
    ) -> None:
        self.runner = runner
        self.store = runner.store
        self.project = project
        self.pipeline = pipeline
        self.spec = spec
        self.cancel = cancel
        self.plan = plan_pipeline(spec)
        self.by_name = {job.name: job for job in self.plan}
        home = runner.settings.home
        self.workspaces = WorkspaceFactory(
            repo, pipeline.commit, project.subdir, home / "workspaces" / str(pipeline.id)
        )
        self.cache_dirs = CacheDirectories(home / "cache", project.name)
        self.logs = runner.log_dir(pipeline.id)
        self.keys: dict[str, str] = {}
        self.failing_tests: list[str] = []
        self.artifact: str | None = None
        records = self.store.jobs.create_many(
            pipeline.id,
            [
                NewJob(
                    name=job.name,
                    job=job.job,
                    stage=job.stage,
                    shard_index=job.shard_index,
                    shard_total=job.shard_total,
                    needs=list(job.needs),
                )
                for job in self.plan
            ],
        )
        self.ids = {record.name: record.id for record in records}

    async def execute(self) -> tuple[PipelineStatus, list[str]]:
        states: dict[str, JobStatus] = {job.name: JobStatus.PENDING for job in self.plan}
        tasks: dict[asyncio.Task[JobStatus], str] = {}
        while True:
            if self.cancel.is_set():
                for name, state in states.items():
                    if state is JobStatus.PENDING:
                        states[name] = JobStatus.CANCELED
                        self.store.jobs.update(
                            self.ids[name],
                            status=JobStatus.CANCELED,
                            reason="canceled before it started",
                        )
            else:
                decision = decide_next(
                    self.plan, states, running=len(tasks), limit=self.runner.concurrency
                )
                for name in decision.skip:
                    states[name] = JobStatus.SKIPPED
                    failed = [n for n in self.by_name[name].needs if not states[n].ok]
                    self.store.jobs.update(
                        self.ids[name],
                        status=JobStatus.SKIPPED,
                        reason=f"skipped: {', '.join(failed)} did not succeed",
                    )
                for name in decision.start:
                    states[name] = JobStatus.RUNNING
                    task = asyncio.create_task(self._job(self.by_name[name]))
                    tasks[task] = name
            if not tasks:
                break
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                states[tasks.pop(task)] = task.result()
        if self.cancel.is_set():
            return PipelineStatus.CANCELED, self.failing_tests
        return assess_pipeline(states), self.failing_tests

    async def _job(self, job: PlannedJob) -> JobStatus:
        try:
            if job.stage == "package":
                return await self._package(job)
            return await self._command_job(job)
        except AndonError as exc:
            # A broken workspace, cache or report is the platform's failure, not the code's.
            return self._end(job, JobStatus.INFRA_FAILED, reason=exc.message)
        except OSError as exc:
            return self._end(job, JobStatus.INFRA_FAILED, reason=f"the workspace failed: {exc}")

    async def _command_job(self, job: PlannedJob) -> JobStatus:
        workspace = await asyncio.to_thread(self.workspaces.create, job.name)
        key = await asyncio.to_thread(
            compute_cache_key,
            job,
            workspace,
            needs={name: self.keys.get(name, "") for name in job.needs},
            tree=self.workspaces.tree,
        )
        self.keys[job.name] = key
        hit = self.store.jobs.find_cached(self.project.name, key)
        if hit is not None:
            await asyncio.to_thread(shutil.rmtree, workspace, True)
            return self._end(
                job,
                JobStatus.CACHED,
                reason=f"cached: reuses job #{hit.id} of pipeline #{hit.pipeline_id}",
                cache_key=key,
                cached_from=hit.id,
                tests=hit.tests,
            )
        await asyncio.to_thread(self.cache_dirs.restore, job, workspace)
        log_path = self.logs / f"{_file_name(job.name)}.log"
        self.store.jobs.update(
            self.ids[job.name],
            status=JobStatus.RUNNING,
            started_at=self.runner.clock(),
            log_path=str(log_path),
            cache_key=key,
        )
        earlier_failures: set[str] = set()
        report: TestReport | None = None
        attempts = 0
        with LogSink(log_path, secrets=[]) as sink:
            while True:
                attempts += 1
                outcome = await run_job_command(
                    job.command,
                    cwd=workspace,
                    env=self._env(job),
                    timeout=job.timeout_seconds,
                    sink=sink,
                    cancel=self.cancel,
                    pid_file=log_path.with_suffix(".pid"),
                )
                report = (
                    await asyncio.to_thread(parse_reports, workspace, job.reports)
                    if job.reports
                    else None
                )
                if report is not None:
                    for warning in report.warnings:
                        sink.note(f"warning: {warning}")
                if outcome.status is JobStatus.SUCCESS or attempts > job.retries:
                    break
                if outcome.status is JobStatus.CANCELED:
                    break
                if report is not None:
                    earlier_failures.update(report.failing)
                sink.note(
                    f"attempt {attempts} failed ({outcome.reason}); retrying "
                    f"({attempts + 1} of {job.retries + 1})"
                )
        flaky: list[str] = []
        if outcome.status is JobStatus.SUCCESS:
            still_failing = set(report.failing) if report is not None else set()
            flaky = sorted(earlier_failures - still_failing)
            await asyncio.to_thread(self.cache_dirs.save, job, workspace)
        elif report is not None:
            self.failing_tests.extend(report.failing)
        for test in flaky:
            self.store.flaky.record(
                project=self.project.name,
                test=test,
                job=job.job,
                commit=self.pipeline.commit,
                pipeline_id=self.pipeline.id,
            )
        await asyncio.to_thread(shutil.rmtree, workspace, True)
        return self._end(
            job,
            outcome.status,
            reason=outcome.reason,
            exit_code=outcome.exit_code,
            attempts=attempts,
            tests=report.to_dict() if report is not None else None,
            flaky=flaky,
        )

    async def _package(self, job: PlannedJob) -> JobStatus:
        existing = self.store.artifacts.for_commit(self.project.name, self.pipeline.commit)
        if existing is None:
            digest = self.store.pipelines.artifact_for_commit(
                self.project.name, self.pipeline.commit
            )
            existing = self.store.artifacts.get(digest) if digest else None
        if existing is not None and self.runner.artifacts.exists(existing.digest):
            self.artifact = existing.digest
            return self._end(
                job,
                JobStatus.CACHED,
                reason=f"artifact {existing.digest[:19]} was built for this commit by "
                f"pipeline #{existing.pipeline_id}; artifacts are never rebuilt",
            )
        workspace = await asyncio.to_thread(self.workspaces.create, job.name)
        log_path = self.logs / f"{_file_name(job.name)}.log"
        self.store.jobs.update(
            self.ids[job.name],
            status=JobStatus.RUNNING,
            started_at=self.runner.clock(),
            log_path=str(log_path),
        )
        with LogSink(log_path, secrets=[]) as sink:
            if job.command:
                outcome = await run_job_command(
                    job.command,
                    cwd=workspace,
                    env=self._env(job),
                    timeout=job.timeout_seconds,
                    sink=sink,
                    cancel=self.cancel,
                    pid_file=log_path.with_suffix(".pid"),
                )
                if outcome.status is not JobStatus.SUCCESS:
                    return self._end(
                        job,
                        outcome.status,
                        reason=f"vendor step: {outcome.reason}",
                        exit_code=outcome.exit_code,
                    )
            built = await asyncio.to_thread(
                build_artifact,
                workspace,
                self.spec.package,
                service=self.spec.service.name,
                commit=self.pipeline.commit,
                tree=self.workspaces.tree,
                created_at=self.runner.clock(),
                out_dir=self.runner.artifacts.staging,
            )
            try:
                stored = await asyncio.to_thread(self.runner.artifacts.put, built)
            finally:
                built.discard()
            self.store.artifacts.add(
                digest=built.digest,
                project=self.project.name,
                commit=self.pipeline.commit,
                tree=self.workspaces.tree,
                pipeline_id=self.pipeline.id,
                size=built.size,
                path=str(stored.path),
                manifest=built.manifest.to_dict(),
            )
            sink.note(
                f"artifact {built.digest} ({built.size:,} bytes, {len(built.manifest.files)} files)"
            )
        self.artifact = built.digest
        await asyncio.to_thread(shutil.rmtree, workspace, True)
        return self._end(job, JobStatus.SUCCESS, reason=f"built {built.digest[:19]}")

    def _env(self, job: PlannedJob) -> dict[str, str]:
        env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
        env.setdefault("PATH", os.defpath)
        # Jobs that run Python find the interpreter Andon runs on first.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        env.update(
            {
                "CI": "true",
                "ANDON": "true",
                "ANDON_PROJECT": self.project.name,
                "ANDON_COMMIT": self.pipeline.commit,
                "ANDON_BRANCH": self.pipeline.branch,
                "ANDON_PIPELINE_ID": str(self.pipeline.id),
                "ANDON_JOB": job.name,
                "ANDON_SHARD_INDEX": str(job.shard_index),
                "ANDON_SHARD_TOTAL": str(job.shard_total),
            }
        )
        env.update(job.env)
        return env

    def _end(self, job: PlannedJob, status: JobStatus, **fields: object) -> JobStatus:
        self.store.jobs.update(
            self.ids[job.name],
            status=status,
            finished_at=self.runner.clock(),
            **fields,  # type: ignore[arg-type]
        )
        return status
