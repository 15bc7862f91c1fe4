"""Pipeline benchmarks: what Andon's pipeline runner adds to the jobs it runs, measured in one
run beside in-run anchors (the same work run directly) and the goals of the issue.

    /work/venv/bin/python bench/pipeline/run.py [--repeat N] [--shop-repeat M] [--json]

It measures a 100-job DAG of ``true`` (wall, the jobs' own time, overhead per job), a fully
cached re-run of the same commit, and the example shop's pipeline with its unit tests in one
shard and in two. bench/README.md says what each figure means and records results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from anchors import (
    GITLAB_PICKUP_SECONDS,
    TRUE_COMMAND,
    job_environment,
    time_bare_commands,
    time_shop_tests,
)
from summaries import Row, describe_machine, load_average, render_table, summarize
from workloads import (
    LAYERS,
    WIDTH,
    BenchmarkError,
    commit_all,
    dag_spec,
    init_repo,
    installation,
    shop_repo,
)

DAG_JOBS = LAYERS * WIDTH

GOAL_OVERHEAD_PER_JOB = 0.050
GOAL_DAG_WALL = 2.0
GOAL_CACHED_WALL = 1.0


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_dag(root: Path, *, repeat: int, concurrency: int) -> list[Row]:
    """The 100-job DAG, fresh and then cached, ``repeat`` rounds after one warm-up round.

    Each round commits andon.yaml with a new comment, which changes the tree (so every
    job's cache key) and the artifact: the fresh run runs all jobs, the re-run of the same
    commit reuses all of them. The anchor, 100 bare ``true`` commands at the same
    concurrency, runs in the same round.
    """
    repo = root / "dag"
    init_repo(repo)
    (repo / "andon.yaml").write_text(dag_spec())
    commit_all(repo, "a DAG of true")
    walls: list[float] = []
    own: list[float] = []
    overhead: list[float] = []
    cached: list[float] = []
    recorded: list[float] = []
    bare_each: list[float] = []
    with installation(root / "dag-home", concurrency=concurrency) as andon:
        andon.register("dag", repo)
        for round_ in range(repeat + 1):
            (repo / "andon.yaml").write_text(f"# round {round_}\n{dag_spec()}")
            sha = commit_all(repo, f"round {round_}")
            bare = time_bare_commands(
                TRUE_COMMAND,
                count=DAG_JOBS,
                concurrency=concurrency,
                cwd=repo,
                env=job_environment(),
            )
            fresh = andon.run("dag", sha)
            again = andon.run("dag", sha)
            if fresh.count("success") != DAG_JOBS + 1 or again.count("cached") != DAG_JOBS + 1:
                raise BenchmarkError(
                    f"round {round_}: expected {DAG_JOBS + 1} jobs run, then all cached; got "
                    f"{fresh.count('success')} run and {again.count('cached')} cached"
                )
            label = "warm-up" if round_ == 0 else f"round {round_}/{repeat}"
            progress(
                f"dag {label}: wall {fresh.wall:.2f} s, bare {bare.wall:.2f} s, "
                f"cached {again.wall:.2f} s"
            )
            if round_ == 0:
                # Imports, SQLAlchemy's statement caches and the page cache warm up here.
                continue
            walls.append(fresh.wall)
            own.append(bare.wall)
            overhead.append((fresh.wall - bare.wall) / DAG_JOBS)
            cached.append(again.wall)
            recorded += [j.duration or 0.0 for j in fresh.jobs if j.name != "package"]
            bare_each += bare.each
    return [
        Row(
            "dag_wall",
            f"{DAG_JOBS}-job DAG: pipeline wall (around runner.run)",
            "s",
            summarize(walls),
            goal=GOAL_DAG_WALL,
        ),
        Row(
            "dag_own_time",
            f"  jobs' own time: {DAG_JOBS} x bash -c true, {concurrency} at once",
            "s",
            summarize(own),
            note="in-run anchor",
        ),
        Row(
            "dag_overhead_per_job",
            f"  overhead per job: (wall - own time) / {DAG_JOBS}",
            "ms",
            summarize(overhead),
            goal=GOAL_OVERHEAD_PER_JOB,
        ),
        Row(
            "dag_bare_process",
            "  one bare bash -c true, spawn to exit",
            "ms",
            summarize(bare_each),
            note="per process, all rounds",
        ),
        Row(
            "dag_recorded_job",
            "  one job as recorded (started_at -> finished_at)",
            "ms",
            summarize(recorded),
            note="per job, all rounds",
        ),
        Row(
            "cached_wall",
            "cached re-run of the same commit: pipeline wall",
            "s",
            summarize(cached),
            goal=GOAL_CACHED_WALL,
        ),
    ]


def measure_shop(root: Path, *, repeat: int, concurrency: int) -> list[Row]:
    """The example shop's pipeline with ``test.unit.parallel`` 1 and 2, each in a fresh
    installation (so nothing is cached) and then re-run (all cached), beside its tests run
    directly."""
    unit: dict[int, list[float]] = {1: [], 2: []}
    pipeline: dict[int, list[float]] = {1: [], 2: []}
    direct: dict[int, list[float]] = {1: [], 2: []}
    cached: list[float] = []
    retried = False
    for round_ in range(repeat):
        here = root / f"shop-{round_}"
        for shards in (1, 2):
            # A fresh copy each time, as each job gets a fresh workspace: the tests leave
            # caches behind (hypothesis's .hypothesis/) that would speed up a second run.
            copy = here / f"direct-{shards}"
            shop_repo(copy, parallel=shards)
            direct[shards].append(time_shop_tests(copy, shards=shards))
        # Alternate which goes first, so that neither always runs on a warmer machine.
        for parallel in (1, 2) if round_ % 2 == 0 else (2, 1):
            repo = here / f"parallel-{parallel}"
            sha = shop_repo(repo, parallel=parallel)
            with installation(here / f"home-{parallel}", concurrency=concurrency) as andon:
                andon.register("shop", repo)
                run = andon.run("shop", sha)
                again = andon.run("shop", sha)
            if again.count("cached") != len(again.jobs):
                raise BenchmarkError(f"shop round {round_ + 1}: the re-run was not all cached")
            cached.append(again.wall)
            unit[parallel].append(run.stage_wall("unit"))
            pipeline[parallel].append(run.wall)
            retried |= any(j.attempts > 1 for j in run.jobs)
        progress(
            f"shop round {round_ + 1}/{repeat}: unit {unit[1][-1]:.2f} s / {unit[2][-1]:.2f} s, "
            f"pipeline {pipeline[1][-1]:.2f} s / {pipeline[2][-1]:.2f} s, "
            f"direct {direct[1][-1]:.2f} s / {direct[2][-1]:.2f} s (parallel 1 / 2)"
        )
    note = "a job was retried" if retried else ""
    speedups = [one / two for one, two in zip(unit[1], unit[2], strict=True)]
    return [
        Row("shop_unit_p1", "shop, parallel: 1: unit stage", "s", summarize(unit[1]), note=note),
        Row("shop_unit_p2", "shop, parallel: 2: unit stage", "s", summarize(unit[2]), note=note),
        Row(
            "shop_unit_speedup", "  unit stage speed-up, 2 shards over 1", "x", summarize(speedups)
        ),
        Row("shop_pipeline_p1", "shop, parallel: 1: whole pipeline", "s", summarize(pipeline[1])),
        Row("shop_pipeline_p2", "shop, parallel: 2: whole pipeline", "s", summarize(pipeline[2])),
        Row(
            "shop_cached_wall",
            "shop: cached re-run of the same commit",
            "s",
            summarize(cached),
            goal=GOAL_CACHED_WALL,
        ),
        Row(
            "shop_direct_1",
            "shop tests run directly, one process",
            "s",
            summarize(direct[1]),
            note="in-run anchor",
        ),
        Row(
            "shop_direct_2",
            "shop tests run directly, 2 shards at once",
            "s",
            summarize(direct[2]),
            note="in-run anchor",
        ),
    ]


def vendor_rows() -> list[Row]:
    return [
        Row(
            "gitlab_pickup",
            "GitLab runner pickup, median",
            "s",
            value=GITLAB_PICKUP_SECONDS,
            note="vendor figure; not run here (no network)",
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the DAG (default 5)")
    parser.add_argument("--shop-repeat", type=int, default=5, help="rounds of the shop (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.shop_repeat < 1:
        parser.error("--repeat and --shop-repeat must be at least 1")
    concurrency = os.cpu_count() or 1
    machine = describe_machine()
    settings = {
        "concurrency": concurrency,
        "repeat": args.repeat,
        "shop_repeat": args.shop_repeat,
        "dag": {"layers": LAYERS, "width": WIDTH, "jobs": DAG_JOBS},
    }
    try:
        with tempfile.TemporaryDirectory(prefix="andon-bench-") as scratch:
            root = Path(scratch)
            rows = measure_dag(root, repeat=args.repeat, concurrency=concurrency)
            rows += measure_shop(root, repeat=args.shop_repeat, concurrency=concurrency)
            rows += vendor_rows()
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    machine["load_after"] = load_average()
    if args.json:
        report = {
            "machine": machine,
            "settings": settings,
            "figures": {row.key: row.to_dict() for row in rows},
        }
        print(json.dumps(report, indent=2))
    else:
        print(render_table(rows, machine, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
