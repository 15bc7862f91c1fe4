"""The pipeline as a graph of jobs, and what to do next in it: pure deciders over the jobs
andon.yaml declares. The pipeline runner plans once per pipeline, then asks
:func:`decide_next` after every change of a job's state."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from andon.errors import UsageError
from andon.spec import AndonSpec, JobSpec
from andon.store import JobStatus, PipelineStatus

Stage = Literal["build", "test", "jobs", "package"]

PACKAGE_JOB = "package"
"""The name of the last job of every pipeline, which builds the artifact."""

PACKAGE_TIMEOUT = timedelta(minutes=10)
"""How long the package job's vendor command may run."""

_SECTIONS: tuple[Literal["build", "test", "jobs"], ...] = ("build", "test", "jobs")
_NEVER_RUNS = frozenset(
    {JobStatus.FAILED, JobStatus.INFRA_FAILED, JobStatus.SKIPPED, JobStatus.CANCELED}
)


@dataclass(frozen=True)
class PlannedJob:
    """One job to run in a pipeline: a job of andon.yaml, or one shard of it."""

    name: str
    """Unique in the pipeline: the job's name, or ``unit[1/2]`` for its shards."""
    job: str
    """The name of the job in andon.yaml (shards share it)."""
    stage: Stage
    command: str
    """The shell command; empty when there is nothing to run (a package without vendor)."""
    needs: tuple[str, ...] = ()
    """Planned jobs that must succeed first: every shard of a sharded job."""
    shard_index: int = 0
    """0-based; the job learns it as ``ANDON_SHARD_INDEX``."""
    shard_total: int = 1
    timeout_seconds: float = 600.0
    retries: int = 0
    inputs: tuple[str, ...] = ()
    cache: tuple[str, ...] = ()
    cache_key: tuple[str, ...] = ()
    reports: tuple[str, ...] = ()
    # Left out of the hash, as a dict cannot be hashed; equal jobs still hash alike.
    env: Mapping[str, str] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for the store and the API."""
        return {
            "name": self.name,
            "job": self.job,
            "stage": self.stage,
            "command": self.command,
            "needs": list(self.needs),
            "shard_index": self.shard_index,
            "shard_total": self.shard_total,
            "timeout_seconds": self.timeout_seconds,
            "retries": self.retries,
            "inputs": list(self.inputs),
            "cache": list(self.cache),
            "cache_key": list(self.cache_key),
            "reports": list(self.reports),
            "env": dict(self.env),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannedJob:
        """The job that :meth:`to_dict` wrote."""
        return cls(
            name=data["name"],
            job=data["job"],
            stage=data["stage"],
            command=data["command"],
            needs=tuple(data["needs"]),
            shard_index=data["shard_index"],
            shard_total=data["shard_total"],
            timeout_seconds=data["timeout_seconds"],
            retries=data["retries"],
            inputs=tuple(data["inputs"]),
            cache=tuple(data["cache"]),
            cache_key=tuple(data["cache_key"]),
            reports=tuple(data["reports"]),
            env=dict(data["env"]),
        )


@dataclass(frozen=True)
class Decision:
    """What the runner should do now."""

    start: list[str]
    """Jobs to start, in plan order."""
    skip: list[str]
    """Pending jobs that can never run, because a job they need did not succeed."""


def plan_pipeline(spec: AndonSpec) -> list[PlannedJob]:
    """Every job of ``build``, ``test`` and ``jobs`` with its shards, then the package job.

    The order is topological and stable: among jobs whose needs are planned, the one
    declared first (build before test before jobs) comes first. The package job needs every
    other job. It raises :class:`UsageError` for a graph the spec's checks would refuse
    (unknown or cyclic needs, a name used twice, a job named ``package``). It has no side
    effects.
    """
    declared = [(section, name, job) for section in _SECTIONS for name, job in _jobs(spec, section)]
    order = _topological([(name, job.needs) for _, name, job in declared])
    shards = {name: _shard_names(name, job.parallel) for _, name, job in declared}
    planned: list[PlannedJob] = []
    for index in order:
        section, name, job = declared[index]
        needs = tuple(shard for need in job.needs for shard in shards[need])
        for shard_index, shard_name in enumerate(shards[name]):
            planned.append(
                _planned(
                    job,
                    name=shard_name,
                    job_name=name,
                    stage=section,
                    needs=needs,
                    shard_index=shard_index,
                )
            )
    planned.append(
        PlannedJob(
            name=PACKAGE_JOB,
            job=PACKAGE_JOB,
            stage="package",
            command=spec.package.vendor or "",
            needs=tuple(job.name for job in planned),
            timeout_seconds=PACKAGE_TIMEOUT.total_seconds(),
        )
    )
    return planned


def decide_next(
    planned: Sequence[PlannedJob],
    states: Mapping[str, JobStatus],
    *,
    running: int,
    limit: int,
) -> Decision:
    """Which pending jobs to start and which to skip, given every job's state.

    A job is ready when each job it needs succeeded or was cached; ``limit - running``
    ready jobs start, in plan order. A pending job with a need that failed, was skipped or
    canceled is skipped, and so are the jobs that need it, transitively, in one decision.
    A job missing from ``states`` counts as pending. It has no side effects.
    """
    free = max(0, limit - running)
    start: list[str] = []
    skip: list[str] = []
    doomed: set[str] = set()
    for job in planned:
        if states.get(job.name, JobStatus.PENDING) is not JobStatus.PENDING:
            continue
        need_states = [states.get(need, JobStatus.PENDING) for need in job.needs]
        if any(need in doomed for need in job.needs) or any(
            state in _NEVER_RUNS for state in need_states
        ):
            doomed.add(job.name)
            skip.append(job.name)
        elif all(state.ok for state in need_states) and len(start) < free:
            start.append(job.name)
    return Decision(start=start, skip=skip)


def assess_pipeline(states: Mapping[str, JobStatus]) -> PipelineStatus:
    """The pipeline's status from its jobs' states.

    Success when every job succeeded or was cached; while any job is pending or running,
    running; once all are finished, canceled if any job was canceled, else failed. It has
    no side effects.
    """
    values = list(states.values())
    if all(state.ok for state in values):
        return PipelineStatus.SUCCESS
    if any(not state.finished for state in values):
        return PipelineStatus.RUNNING
    if JobStatus.CANCELED in values:
        return PipelineStatus.CANCELED
    return PipelineStatus.FAILED


def _jobs(spec: AndonSpec, section: Literal["build", "test", "jobs"]) -> list[tuple[str, JobSpec]]:
    jobs: dict[str, JobSpec] = getattr(spec, section)
    if PACKAGE_JOB in jobs:
        raise UsageError(
            f"{section}.{PACKAGE_JOB}: the name '{PACKAGE_JOB}' is kept for the step that "
            "builds the artifact; rename this job in andon.yaml."
        )
    return list(jobs.items())


def _topological(graph: Sequence[tuple[str, Sequence[str]]]) -> list[int]:
    """Indexes of ``graph`` in dependency order, the earliest declared first among ready ones."""
    index: dict[str, int] = {}
    for position, (name, _) in enumerate(graph):
        if name in index:
            raise UsageError(f"two jobs are named '{name}'; job names are unique.")
        index[name] = position
    waiting = [0] * len(graph)
    dependants: list[list[int]] = [[] for _ in graph]
    for position, (name, needs) in enumerate(graph):
        for need in set(needs):
            if need not in index:
                raise UsageError(f"job '{name}' needs an unknown job '{need}'; fix its needs.")
            waiting[position] += 1
            dependants[index[need]].append(position)
    ready = [position for position, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        position = heapq.heappop(ready)
        order.append(position)
        for dependant in dependants[position]:
            waiting[dependant] -= 1
            if waiting[dependant] == 0:
                heapq.heappush(ready, dependant)
    if len(order) < len(graph):
        stuck = sorted(graph[position][0] for position in set(range(len(graph))) - set(order))
        raise UsageError(f"jobs {', '.join(stuck)} need each other in a cycle; remove a need.")
    return order


def _shard_names(name: str, parallel: int) -> list[str]:
    if parallel == 1:
        return [name]
    return [f"{name}[{number}/{parallel}]" for number in range(1, parallel + 1)]


def _planned(
    job: JobSpec,
    *,
    name: str,
    job_name: str,
    stage: Stage,
    needs: tuple[str, ...],
    shard_index: int,
) -> PlannedJob:
    return PlannedJob(
        name=name,
        job=job_name,
        stage=stage,
        command=job.command,
        needs=needs,
        shard_index=shard_index,
        shard_total=job.parallel,
        timeout_seconds=job.timeout.total_seconds(),
        retries=job.retries,
        inputs=tuple(job.inputs),
        cache=tuple(job.cache),
        cache_key=tuple(job.cache_key),
        reports=tuple(job.reports),
        env=dict(job.env),
    )
