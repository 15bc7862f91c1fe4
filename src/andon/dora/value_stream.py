"""The value stream's rows, decided purely: each recent trunk commit as it moves from its
pipeline to its artifact, through each environment, to its release by a flag, with the
time spent working and waiting at each stage.

The server gathers the records from the store (:mod:`~andon.server.flow_reports`) and
calls :func:`assess_value_stream`, which has no side effects: the same records and
``now`` always give the same rows. The dashboard's board draws them one by one;
:func:`~andon.dora.flow.assess_flow` sums them up over a window.

A stage is *ready* when the stage before it ended, *started* when work on it began and
*finished* when it ended; waiting is ready → started, working is started → finished
(within a pipeline, working is the time some job ran, and the gaps are waiting).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from andon.store import (
    ArtifactRecord,
    DeployEventKind,
    DeployEventRecord,
    FlagChangeKind,
    FlagHistoryRecord,
    JobRecord,
    PipelineRecord,
    PipelineStatus,
    RolloutRecord,
)

PIPELINE = "pipeline"
ARTIFACT = "artifact"
RELEASE = "release"
"""The names of the stages around the environments'."""

_ENDED_BADLY = {
    DeployEventKind.ROLLED_BACK: "rolled back",
    DeployEventKind.ABORTED: "aborted",
    DeployEventKind.FAILED: "failed",
}


class StageState(StrEnum):
    """Where a commit stands at one stage."""

    NOT_REACHED = "not-reached"
    WAITING = "waiting"
    WORKING = "working"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Stage:
    """One commit at one stage of the stream."""

    name: str
    state: StageState = StageState.NOT_REACHED
    ready_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    working: float | None = None
    """Seconds of work (so far, while working)."""
    waiting: float | None = None
    """Seconds between ready and started (so far, while waiting)."""
    detail: str = ""
    """A few words for people: ``#12``, ``rollout #3 by canary``, ``new-checkout by ann``."""

    @property
    def reached(self) -> bool:
        return self.state is not StageState.NOT_REACHED


@dataclass(frozen=True, slots=True)
class FlowRow:
    """One commit across the stream."""

    project: str
    commit: str
    pipeline_id: int
    stages: tuple[Stage, ...]

    @property
    def working(self) -> float:
        """Seconds of work at every stage reached."""
        return sum(stage.working or 0.0 for stage in self.stages)

    @property
    def waiting(self) -> float:
        """Seconds of waiting at every stage reached."""
        return sum(stage.waiting or 0.0 for stage in self.stages)

    @property
    def furthest(self) -> Stage:
        """The last stage reached (the pipeline at least)."""
        return [stage for stage in self.stages if stage.reached][-1]


@dataclass(frozen=True)
class FlowRecords:
    """What the board is drawn from, for one project."""

    project: str
    environments: Sequence[str]
    """The environments of the stream, in order (e.g. test, staging, prod)."""
    pipelines: Sequence[PipelineRecord]
    """Trunk pipelines, any order; the newest of each commit counts."""
    jobs: Mapping[int, Sequence[JobRecord]] = field(default_factory=dict)
    """By pipeline id."""
    artifacts: Mapping[str, ArtifactRecord] = field(default_factory=dict)
    """By digest."""
    deploy_events: Sequence[DeployEventRecord] = ()
    rollouts: Sequence[RolloutRecord] = ()
    """Unfinished ones show a stage waiting (for an approval, the deploy lock)."""
    flag_changes: Sequence[FlagHistoryRecord] = ()
    """Of the last environment: a person's change after a commit got there releases it."""


def assess_value_stream(records: FlowRecords, now: datetime) -> list[FlowRow]:
    """One row per trunk commit, newest first, with each stage's times; no side effects."""
    newest: dict[str, PipelineRecord] = {}
    for pipeline in records.pipelines:
        if not pipeline.on_trunk:
            continue
        known = newest.get(pipeline.commit)
        if known is None or pipeline.id > known.id:
            newest[pipeline.commit] = pipeline
    rows = []
    for pipeline in sorted(newest.values(), key=lambda p: p.id, reverse=True):
        jobs = records.jobs.get(pipeline.id, ())
        built = _pipeline_stage(pipeline, jobs, now)
        packaged = _artifact_stage(pipeline, jobs, records.artifacts, built, now)
        stages = [built, packaged]
        for environment in records.environments:
            # A commit may skip an environment (deployed to prod without staging): each
            # stage is ready when the last one reached before it ended.
            ready = max(
                (s.finished_at for s in stages if s.state is StageState.DONE and s.finished_at),
                default=None,
            )
            ready = ready if packaged.state is StageState.DONE else None
            stages.append(_environment_stage(environment, pipeline.commit, ready, records, now))
        stages.append(Stage(RELEASE))
        rows.append(FlowRow(pipeline.project, pipeline.commit, pipeline.id, tuple(stages)))
    return _released(rows, records.flag_changes)


def _pipeline_stage(pipeline: PipelineRecord, jobs: Sequence[JobRecord], now: datetime) -> Stage:
    """From queued to its last job before packaging; working is when a job ran."""
    work = [job for job in jobs if job.stage != "package"]
    ready = pipeline.created_at
    detail = f"#{pipeline.id}"
    if pipeline.started_at is None:
        if pipeline.status.finished:
            return Stage(PIPELINE, StageState.FAILED, ready, detail=f"{detail} {pipeline.status}")
        return Stage(
            PIPELINE, StageState.WAITING, ready, waiting=_seconds(ready, now), detail=detail
        )
    ended = [job.finished_at for job in work if job.finished_at is not None]
    running = not pipeline.status.finished and any(not job.status.finished for job in work)
    if running or (not pipeline.status.finished and not ended):
        end = now
        state = StageState.WORKING
    else:
        if ended:
            end = max(ended)
        elif len(work) < len(jobs):
            end = pipeline.started_at  # nothing but packaging to do
        else:
            end = pipeline.finished_at or now
        state = StageState.DONE
        failed = pipeline.status.finished and pipeline.status is not PipelineStatus.SUCCESS
        if failed and any(not job.status.ok for job in work):
            state = StageState.FAILED
            detail = f"{detail} {pipeline.status}"
    working = _union(
        (job.started_at, job.finished_at or now) for job in work if job.started_at is not None
    )
    span = _seconds(ready, end)
    working = min(working, span)
    return Stage(
        PIPELINE,
        state,
        ready,
        pipeline.started_at,
        None if state is StageState.WORKING else end,
        working=working,
        waiting=span - working,
        detail=detail,
    )


def _artifact_stage(
    pipeline: PipelineRecord,
    jobs: Sequence[JobRecord],
    artifacts: Mapping[str, ArtifactRecord],
    built: Stage,
    now: datetime,
) -> Stage:
    """The package step: ready when the last job before it ended."""
    if built.state is not StageState.DONE or built.finished_at is None:
        return Stage(ARTIFACT)
    ready = built.finished_at
    package = next((job for job in jobs if job.stage == "package"), None)
    digest = pipeline.artifact
    detail = digest.removeprefix("sha256:")[:12] if digest else ""
    found = artifacts.get(digest) if digest else None
    if found is not None and found.created_at < (pipeline.started_at or pipeline.created_at):
        detail += " (reused)"
    if package is None or package.started_at is None:
        if pipeline.status is PipelineStatus.SUCCESS and digest:
            end = pipeline.finished_at or ready
            return Stage(
                ARTIFACT, StageState.DONE, ready, ready, end, _seconds(ready, end), 0.0, detail
            )
        if pipeline.status.finished:
            return Stage(ARTIFACT, StageState.FAILED, ready, detail=str(pipeline.status))
        return Stage(ARTIFACT, StageState.WAITING, ready, waiting=_seconds(ready, now))
    waiting = _seconds(ready, package.started_at)
    if package.finished_at is None:
        working = _seconds(package.started_at, now)
        return Stage(
            ARTIFACT, StageState.WORKING, ready, package.started_at, None, working, waiting
        )
    state = StageState.DONE if package.status.ok else StageState.FAILED
    return Stage(
        ARTIFACT,
        state,
        ready,
        package.started_at,
        package.finished_at,
        _seconds(package.started_at, package.finished_at),
        waiting,
        detail if state is StageState.DONE else package.reason or str(package.status),
    )


def _environment_stage(
    environment: str, commit: str, ready: datetime | None, records: FlowRecords, now: datetime
) -> Stage:
    """The first rollout that brought ``commit`` into ``environment``: from its start to
    its finish; waiting is from ``ready`` (the stage before's end) to the start."""
    if ready is None:
        return Stage(environment)
    events = [
        event
        for event in records.deploy_events
        if event.environment == environment and _carries(event.version, event.commits, commit)
    ]
    started = next((e for e in events if e.kind is DeployEventKind.STARTED), None)
    if started is None:
        waiting_for = next(
            (
                r
                for r in sorted(records.rollouts, key=lambda r: r.id)
                if r.environment == environment
                and not r.status.finished
                and _carries(r.to_version, r.commits, commit)
            ),
            None,
        )
        if waiting_for is None:
            return Stage(environment)
        detail = f"rollout #{waiting_for.id}: {waiting_for.message}".rstrip(": ")
        return Stage(
            environment, StageState.WAITING, ready, waiting=_seconds(ready, now), detail=detail
        )
    waiting = _seconds(ready, started.at)
    ours = [e for e in events if e.rollout_id == started.rollout_id and e.at >= started.at]
    detail = f"rollout #{started.rollout_id}" if started.rollout_id is not None else ""
    finished = next((e for e in ours if e.kind is DeployEventKind.FINISHED), None)
    if finished is not None:
        working = _seconds(started.at, finished.at)
        return Stage(
            environment, StageState.DONE, ready, started.at, finished.at, working, waiting, detail
        )
    ended = next((e for e in ours if e.kind in _ENDED_BADLY), None)
    if ended is not None:
        working = _seconds(started.at, ended.at)
        said = f"{detail} {_ENDED_BADLY[ended.kind]}".strip()
        return Stage(
            environment, StageState.FAILED, ready, started.at, ended.at, working, waiting, said
        )
    return Stage(
        environment,
        StageState.WORKING,
        ready,
        started.at,
        None,
        _seconds(started.at, now),
        waiting,
        detail,
    )


def _released(rows: list[FlowRow], changes: Sequence[FlagHistoryRecord]) -> list[FlowRow]:
    """Each row whose commit reached the last environment, released by the first change a
    person made to a flag there after it arrived and before the next commit did."""
    arrived = sorted(
        (row.stages[-2].finished_at, index)
        for index, row in enumerate(rows)
        if row.stages[-2].state is StageState.DONE
        and row.stages[-2].finished_at is not None
        and len(row.stages) > 3  # a stream with an environment
    )
    if not arrived:
        return rows
    releases: dict[int, FlagHistoryRecord] = {}
    for change in sorted(changes, key=lambda c: (c.at, c.id)):
        if change.kind is not FlagChangeKind.SET:
            continue
        before = [index for at, index in arrived if at is not None and at <= change.at]
        if before and before[-1] not in releases:
            releases[before[-1]] = change
    for index, change in releases.items():
        row = rows[index]
        ready = row.stages[-2].finished_at
        assert ready is not None
        stage = Stage(
            RELEASE,
            StageState.DONE,
            ready,
            change.at,
            change.at,
            0.0,
            _seconds(ready, change.at),
            f"{change.flag} by {change.actor}",
        )
        rows[index] = replace(row, stages=(*row.stages[:-1], stage))
    return rows


def _carries(version: str, commits: Iterable[str], commit: str) -> bool:
    return version == commit or commit in commits


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def _union(spans: Iterable[tuple[datetime, datetime]]) -> float:
    """Seconds covered by at least one of the spans."""
    total, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += _seconds(start, end)
            reach = end
        elif end > reach:
            total += _seconds(reach, end)
            reach = end
    return total
