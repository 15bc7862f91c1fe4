"""The workloads the pipeline benchmarks run: a DAG of 100 jobs that each run ``true``, and
the example shop. Each is a real git repository registered in a real SQLite store under a
private ``ANDON_HOME``, run by the real :class:`PipelineRunner`. ``run.py`` and
``profiling.py`` build on these helpers."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from andon.pipeline import PipelineRunner
from andon.settings import Settings
from andon.store import JobRecord, PipelineRecord, PipelineStatus, Store, open_store

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"

LAYERS = 10
WIDTH = 10
"""The DAG: LAYERS layers of WIDTH jobs, 100 in all."""

_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Andon Bench",
    "GIT_AUTHOR_EMAIL": "bench@andon.invalid",
    "GIT_COMMITTER_NAME": "Andon Bench",
    "GIT_COMMITTER_EMAIL": "bench@andon.invalid",
}

# The line of examples/shop/andon.yaml that shards the unit tests; the benchmark rewrites it.
_UNIT_PARALLEL = re.compile(r"^(    parallel: )2$", re.MULTILINE)


class BenchmarkError(RuntimeError):
    """A workload did not run as it must for its figures to mean anything."""


def dag_job_name(layer: int, index: int) -> str:
    return f"layer{layer}-job{index}"


def dag_spec(layers: int = LAYERS, width: int = WIDTH) -> str:
    """andon.yaml of a DAG of ``layers x width`` jobs running ``true``.

    Job ``i`` of a layer needs jobs ``i``, ``i+1`` (and ``i+2`` when ``i`` is odd), modulo
    ``width``, of the layer before: every job has 2 or 3 needs, the same on every call.
    """
    lines = [
        "service: {name: dag}",
        "processes: {web: {command: 'true'}}",
        "jobs:",
    ]
    for layer in range(layers):
        for index in range(width):
            needs = (
                []
                if layer == 0
                else [
                    dag_job_name(layer - 1, (index + step) % width) for step in range(2 + index % 2)
                ]
            )
            lines.append(
                f'  {dag_job_name(layer, index)}: {{command: "true", needs: [{", ".join(needs)}]}}'
            )
    lines += ["package: {paths: [andon.yaml]}", "environments: {test: {}}"]
    return "\n".join(lines) + "\n"


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with a fixed identity and return its output."""
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **_GIT_IDENTITY},
    ).stdout.strip()


def init_repo(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")


def commit_all(repo: Path, message: str) -> str:
    """Commit everything in ``repo``'s working tree; the new commit's sha."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def shop_repo(path: Path, *, parallel: int) -> str:
    """A git repository at ``path`` holding a copy of examples/shop whose unit tests run in
    ``parallel`` shards; the sha of its one commit."""
    # Only what git would commit: the caches that running the shop's tests leaves in
    # examples/shop (.hypothesis/, __pycache__/) would make the copy warmer than a workspace.
    listed = git(
        ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", str(SHOP)
    )
    for relative in filter(None, listed.split("\0")):
        source = ROOT / relative
        if source.is_file():
            target = path / source.relative_to(SHOP)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    spec = path / "andon.yaml"
    text, replaced = _UNIT_PARALLEL.subn(rf"\g<1>{parallel}", spec.read_text())
    if replaced != 1:
        raise BenchmarkError(
            "examples/shop/andon.yaml no longer has one 'parallel: 2' line under test.unit; "
            "update _UNIT_PARALLEL in bench/pipeline/workloads.py."
        )
    spec.write_text(text)
    init_repo(path)
    return commit_all(path, "the example shop")


@dataclass(frozen=True)
class PipelineRun:
    """One pipeline, run to its end, with the wall time measured around ``runner.run``."""

    record: PipelineRecord
    jobs: list[JobRecord]
    wall: float

    def stage_wall(self, job: str) -> float:
        """Seconds from the first start to the last finish of ``job``'s shards."""
        shards = [j for j in self.jobs if j.job == job]
        starts = [j.started_at for j in shards if j.started_at is not None]
        ends = [j.finished_at for j in shards if j.finished_at is not None]
        if not shards or len(starts) < len(shards) or len(ends) < len(shards):
            raise BenchmarkError(f"pipeline #{self.record.id}: job {job} did not run")
        return (max(ends) - min(starts)).total_seconds()

    def count(self, status: str) -> int:
        return sum(1 for job in self.jobs if job.status.value == status)


class Installation:
    """One Andon installation: a store and a runner over a private ``ANDON_HOME``."""

    def __init__(self, store: Store, runner: PipelineRunner) -> None:
        self.store = store
        self.runner = runner

    def register(self, name: str, repo: Path) -> None:
        self.store.projects.add(
            name=name,
            source=str(repo),
            subdir="",
            trunk="main",
            service=name,
            commit=git(repo, "rev-parse", "HEAD"),
            spec={},
        )

    def run(self, project: str, commit: str) -> PipelineRun:
        """Create a pipeline for ``commit`` and run it; BenchmarkError unless it succeeds."""
        pipeline = self.store.pipelines.create(
            project=project, commit=commit, branch="main", trigger="manual", on_trunk=True
        )

        async def timed() -> tuple[PipelineRecord, float]:
            started = time.perf_counter()
            record = await self.runner.run(pipeline.id)
            return record, time.perf_counter() - started

        record, wall = asyncio.run(timed())
        jobs = self.store.jobs.list_for_pipeline(pipeline.id)
        if record.status is not PipelineStatus.SUCCESS:
            failed = [f"{j.name}: {j.reason}" for j in jobs if not j.status.ok] or [record.error]
            raise BenchmarkError(
                f"pipeline #{pipeline.id} of {project} ended {record.status.value}: "
                + "; ".join(str(line) for line in failed)
            )
        return PipelineRun(record, jobs, wall)


@contextmanager
def installation(home: Path, *, concurrency: int) -> Iterator[Installation]:
    """An installation with its store opened (and migrated) under ``home``."""
    settings = Settings.from_env({"ANDON_HOME": str(home)})
    with open_store(settings.database_url) as store:
        yield Installation(store, PipelineRunner(store, settings, concurrency=concurrency))
