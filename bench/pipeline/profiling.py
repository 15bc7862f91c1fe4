"""Where the pipeline runner's time goes in the 100-job DAG, fresh and fully cached.

    /work/venv/bin/python bench/pipeline/profiling.py [--rounds N] [--top N]

Two views of the same pipelines. First, each step of a job, timed by wrapping the runner's
collaborators, summed over all jobs and split by thread: steps on the event loop's thread
run one at a time and hold up every other job, steps in worker threads overlap. Second, a
sampling profile of the event loop's thread with pyinstrument when it is installed
(``pip install pyinstrument``), else cProfile's top functions. Neither changes andon's code;
the wrapping is undone after each pipeline.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import inspect
import io
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from asyncio import unix_events
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

from workloads import LAYERS, WIDTH, Installation, commit_all, dag_spec, init_repo, installation

from andon.artifacts import LocalArtifactStore
from andon.pipeline import CacheDirectories, LogSink, WorkspaceFactory
from andon.pipeline import executing as executing_module
from andon.store import JobRecord, Store

try:
    from pyinstrument import Profiler
except ImportError:  # optional: cProfile stands in
    Profiler = None

DAG_JOBS = LAYERS * WIDTH


class StepTimes:
    """Seconds spent in each step, summed, with the number of calls and where it ran:
    ``loop`` (blocks the event loop, so every other job waits), ``worker`` (a thread of
    ``asyncio.to_thread``) or ``async`` (awaited: its span includes waiting, and overlaps)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.thread: dict[str, str] = {}

    def _add(self, label: str, seconds: float, *, awaited: bool = False) -> None:
        self.seconds[label] += seconds
        self.calls[label] += 1
        if awaited:
            self.thread[label] = "async"
        elif threading.current_thread() is threading.main_thread():
            self.thread[label] = "loop"
        else:
            self.thread[label] = "worker"

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    self._add(label, time.perf_counter() - started, awaited=True)

            return timed_async

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._add(label, time.perf_counter() - started)

        return timed

    def render(self, wall: float, jobs: int) -> str:
        lines = [
            f"{'step':<44} {'thread':<7} {'calls':>6} {'total':>9} {'per job':>9} {'of wall':>8}"
        ]
        for label in sorted(self.seconds, key=self.seconds.__getitem__, reverse=True):
            total = self.seconds[label]
            thread = self.thread[label]
            lines.append(
                f"{label:<44} {thread:<7} {self.calls[label]:>6} {total * 1000:>7.0f}ms "
                f"{total / jobs * 1000:>7.2f}ms {total / wall:>7.0%}"
            )
        return "\n".join(lines)


@contextmanager
def timing_steps(steps: StepTimes, store: Store) -> Iterator[None]:
    """Wrap the runner's collaborators so that ``steps`` learns how long each takes."""
    module = executing_module
    repositories = [
        ("store: jobs.update", store.jobs, "update"),
        ("store: jobs.find_cached", store.jobs, "find_cached"),
        ("store: jobs.create_many", store.jobs, "create_many"),
        ("store: pipelines.update", store.pipelines, "update"),
        ("store: artifacts.for_commit", store.artifacts, "for_commit"),
        ("store: artifacts.add", store.artifacts, "add"),
    ]
    with ExitStack() as stack:

        def patch(target: Any, name: str, label: str) -> None:
            original = getattr(target, name)
            stack.enter_context(mock.patch.object(target, name, steps.wrap(label, original)))

        patch(module, "run_job_command", "command: spawn to exit (incl. waiting)")
        # asyncio's own step that calls Popen: the fork and exec, done on the event loop.
        patch(unix_events._UnixSubprocessTransport, "_start", "command: fork+exec (Popen)")
        patch(module, "compute_cache_key", "cache key")
        patch(module, "build_artifact", "package: build artifact")
        patch(module, "decide_next", "decide_next")
        patch(module, "decide_after_pipeline", "line: decide_after_pipeline")
        patch(module, "line_view", "line: line_view")
        patch(WorkspaceFactory, "create", "workspace: extract the commit's tar")
        patch(WorkspaceFactory, "remove_all", "workspace: remove_all at the end")
        patch(CacheDirectories, "restore", "cache dirs: restore")
        patch(CacheDirectories, "save", "cache dirs: save")
        patch(LocalArtifactStore, "put", "package: store the artifact")
        patch(LogSink, "__init__", "log: open the file")
        patch(LogSink, "close", "log: close the file")
        for label, repository, name in repositories:
            patch(type(repository), name, label)
        rmtree = steps.wrap("workspace: rmtree after the job", shutil.rmtree)
        stack.enter_context(mock.patch.object(module, "shutil", SimpleNamespace(rmtree=rmtree)))
        yield


def run_profiled(andon: Installation, commit: str, top: int) -> tuple[float, str]:
    """Run the DAG at ``commit`` under a sampling profiler; its wall and the report."""
    if Profiler is not None:
        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        run = andon.run("dag", commit)
        profiler.stop()
        tree = profiler.output_text(unicode=False, color=False, short_mode=True)
        flat = profiler.output_text(unicode=False, color=False, flat=True)
        flat_top = "\n".join(flat.splitlines()[: top + 8])
        return run.wall, f"{tree}\nself time, top {top}:\n{flat_top}"
    profile = cProfile.Profile()
    profile.enable()
    run = andon.run("dag", commit)
    profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(r"andon[/\\]", top)
    return run.wall, text.getvalue()


def _job_summary(jobs: list[JobRecord]) -> str:
    statuses: dict[str, int] = defaultdict(int)
    for job in jobs:
        statuses[job.status.value] += 1
    return ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--top", type=int, default=25, help="profile lines shown (default 25)")
    args = parser.parse_args(argv)
    concurrency = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="andon-profile-") as scratch:
        root = Path(scratch)
        repo = root / "dag"
        init_repo(repo)
        (repo / "andon.yaml").write_text(dag_spec())
        commit_all(repo, "a DAG of true")
        with installation(root / "home", concurrency=concurrency) as andon:
            andon.register("dag", repo)
            # A warm-up round, so that imports and statement caches are not what is measured.
            warm = commit_all(repo, "warm-up")
            andon.run("dag", warm)
            andon.run("dag", warm)
            # Fresh rounds commit a new andon.yaml each; cached rounds re-run the last of them.
            for kind in ("fresh", "cached"):
                steps = StepTimes()
                walls = 0.0
                for round_ in range(args.rounds):
                    if kind == "fresh":
                        (repo / "andon.yaml").write_text(f"# profile {round_}\n{dag_spec()}")
                        commit = commit_all(repo, f"profile {round_}")
                    with timing_steps(steps, andon.store):
                        run = andon.run("dag", commit)
                    walls += run.wall
                print(
                    f"== {kind}: {args.rounds} rounds, mean wall {walls / args.rounds:.3f} s "
                    f"({_job_summary(run.jobs)})"
                )
                print(steps.render(walls, DAG_JOBS * args.rounds))
                print()
            (repo / "andon.yaml").write_text(f"# sampled\n{dag_spec()}")
            sampled = commit_all(repo, "sampled")
            for kind in ("fresh", "cached"):
                wall, report = run_profiled(andon, sampled, args.top)
                print(f"== sampling profile, {kind}: wall {wall:.3f} s (profiler overhead incl.)")
                print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
