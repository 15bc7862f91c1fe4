"""The value-stream board's rows from fabricated records: each stage's state, and the
time spent working and waiting at it, for a commit that went all the way, one under
way, one waiting for an approval, one whose pipeline failed, and one rolled back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from andon.dora.value_stream import (
    FlowRecords,
    StageState,
    assess_value_stream,
)
from andon.store import (
    DeployEventKind,
    DeployEventRecord,
    FlagChangeKind,
    FlagHistoryRecord,
    JobRecord,
    JobStatus,
    PipelineRecord,
    PipelineStatus,
    RolloutRecord,
    RolloutStatus,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENVIRONMENTS = ("test", "staging", "prod")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def pipeline(
    id: int,
    commit: str,
    *,
    created: float,
    started: float | None,
    finished: float | None,
    status: PipelineStatus = PipelineStatus.SUCCESS,
    on_trunk: bool = True,
) -> PipelineRecord:
    return PipelineRecord(
        id=id,
        project="shop",
        commit=commit,
        branch="main",
        trigger="poll",
        status=status,
        error=None,
        rerun_of=None,
        created_at=at(created),
        started_at=None if started is None else at(started),
        finished_at=None if finished is None else at(finished),
        artifact=f"sha256:{commit * 8}" if status is PipelineStatus.SUCCESS else None,
        on_trunk=on_trunk,
    )


def job(
    id: int,
    pipeline_id: int,
    name: str,
    *,
    started: float | None,
    finished: float | None,
    status: JobStatus = JobStatus.SUCCESS,
    stage: str = "test",
) -> JobRecord:
    return JobRecord(
        id=id,
        pipeline_id=pipeline_id,
        name=name,
        job=name,
        stage=stage,
        shard_index=0,
        shard_total=1,
        needs=(),
        status=status,
        reason="" if status is JobStatus.SUCCESS else "exit code 1",
        exit_code=0,
        attempts=1,
        cache_key=None,
        cached_from=None,
        started_at=None if started is None else at(started),
        finished_at=None if finished is None else at(finished),
        log_path=None,
        tests=None,
        flaky=(),
    )


def event(
    id: int, environment: str, kind: DeployEventKind, seconds: float, commit: str, rollout: int
) -> DeployEventRecord:
    return DeployEventRecord(
        id=id,
        project="shop",
        environment=environment,
        rollout_id=rollout,
        kind=kind,
        at=at(seconds),
        version=commit,
        artifact="sha256:x",
        commits=[commit],
        message="",
    )


def flag_change(
    id: int, seconds: float, kind: FlagChangeKind = FlagChangeKind.SET
) -> FlagHistoryRecord:
    return FlagHistoryRecord(
        id=id,
        project="shop",
        environment="prod",
        version=id,
        at=at(seconds),
        actor="ann",
        reason="",
        kind=kind,
        flag="new-checkout",
        before=None,
        after=None,
        evidence={},
    )


def rollout(id: int, environment: str, commit: str, status: RolloutStatus) -> RolloutRecord:
    return RolloutRecord(
        id=id,
        project="shop",
        environment=environment,
        status=status,
        strategy="canary",
        from_version=None,
        from_artifact=None,
        to_version=commit,
        to_artifact="sha256:x",
        commits=[commit],
        state={},
        message="waiting for approval",
        created_by="ann",
        created_at=at(0),
        updated_at=at(0),
        started_at=None,
        finished_at=None,
    )


def stages(row: Any) -> dict[str, Any]:
    return {stage.name: stage for stage in row.stages}


def test_a_commit_that_went_all_the_way_has_every_stage_with_its_working_and_waiting_time() -> None:
    records = FlowRecords(
        project="shop",
        environments=ENVIRONMENTS,
        # Queued 2 s, two jobs over 10 s with a 2 s gap between them, then packaged.
        pipelines=[pipeline(1, "a", created=0, started=2, finished=16)],
        jobs={
            1: [
                job(1, 1, "build", started=2, finished=6, stage="build"),
                job(2, 1, "unit", started=8, finished=12),
                job(3, 1, "package", started=13, finished=16, stage="package"),
            ]
        },
        deploy_events=[
            event(1, "test", DeployEventKind.STARTED, 20, "a", 1),
            event(2, "test", DeployEventKind.FINISHED, 30, "a", 1),
            event(3, "staging", DeployEventKind.STARTED, 40, "a", 2),
            event(4, "staging", DeployEventKind.FINISHED, 45, "a", 2),
            event(5, "prod", DeployEventKind.STARTED, 100, "a", 3),
            event(6, "prod", DeployEventKind.PAUSED, 110, "a", 3),
            event(7, "prod", DeployEventKind.FINISHED, 160, "a", 3),
        ],
        flag_changes=[flag_change(1, 150), flag_change(2, 200), flag_change(3, 260)],
    )
    (row,) = assess_value_stream(records, at(1000))
    found = stages(row)
    assert [stage.name for stage in row.stages] == [
        "pipeline", "artifact", "test", "staging", "prod", "release"
    ]  # fmt: skip
    assert all(stage.state is StageState.DONE for stage in row.stages)
    built = found["pipeline"]
    assert (built.working, built.waiting) == (8.0, 4.0)  # jobs ran 4 + 4 s of 12 s
    assert (found["artifact"].working, found["artifact"].waiting) == (3.0, 1.0)
    assert (found["test"].working, found["test"].waiting) == (10.0, 4.0)
    assert (found["staging"].working, found["staging"].waiting) == (5.0, 10.0)
    assert (found["prod"].working, found["prod"].waiting) == (60.0, 55.0)
    assert found["prod"].detail == "rollout #3"
    # The first person's change after it reached prod released it, not the one before.
    released = found["release"]
    assert (released.started_at, released.waiting) == (at(200), 40.0)
    assert released.detail == "new-checkout by ann"
    assert row.working + row.waiting == 200.0  # from queued to released


def test_a_pipeline_under_way_counts_its_time_so_far_and_nothing_after_it_is_reached() -> None:
    records = FlowRecords(
        project="shop",
        environments=ENVIRONMENTS,
        pipelines=[
            pipeline(2, "b", created=10, started=12, finished=None, status=PipelineStatus.RUNNING)
        ],
        jobs={2: [job(4, 2, "unit", started=13, finished=None, status=JobStatus.RUNNING)]},
    )
    (row,) = assess_value_stream(records, at(20))
    found = stages(row)
    assert found["pipeline"].state is StageState.WORKING
    assert (found["pipeline"].working, found["pipeline"].waiting) == (7.0, 3.0)
    assert [s.state for s in row.stages[1:]] == [StageState.NOT_REACHED] * 5


def test_a_queued_pipeline_is_waiting() -> None:
    records = FlowRecords(
        project="shop",
        environments=ENVIRONMENTS,
        pipelines=[
            pipeline(3, "c", created=0, started=None, finished=None, status=PipelineStatus.QUEUED)
        ],
    )
    (row,) = assess_value_stream(records, at(5))
    assert row.stages[0].state is StageState.WAITING
    assert row.stages[0].waiting == 5.0


def test_a_failed_pipeline_stops_the_row_there() -> None:
    records = FlowRecords(
        project="shop",
        environments=ENVIRONMENTS,
        pipelines=[
            pipeline(4, "d", created=0, started=1, finished=9, status=PipelineStatus.FAILED)
        ],
        jobs={4: [job(5, 4, "unit", started=1, finished=9, status=JobStatus.FAILED)]},
    )
    (row,) = assess_value_stream(records, at(60))
    assert row.stages[0].state is StageState.FAILED
    assert row.stages[0].detail == "#4 failed"
    assert all(stage.state is StageState.NOT_REACHED for stage in row.stages[1:])


def test_a_rollout_waiting_for_approval_shows_the_stage_waiting_since_the_one_before() -> None:
    records = FlowRecords(
        project="shop",
        environments=("test", "prod"),
        pipelines=[pipeline(5, "e", created=0, started=0, finished=10)],
        jobs={5: [job(6, 5, "package", started=5, finished=10, stage="package")]},
        deploy_events=[
            event(1, "test", DeployEventKind.STARTED, 10, "e", 1),
            event(2, "test", DeployEventKind.FINISHED, 20, "e", 1),
        ],
        rollouts=[rollout(2, "prod", "e", RolloutStatus.RUNNING)],
    )
    (row,) = assess_value_stream(records, at(50))
    prod = stages(row)["prod"]
    assert prod.state is StageState.WAITING
    assert prod.waiting == 30.0
    assert prod.detail == "rollout #2: waiting for approval"
    assert stages(row)["release"].state is StageState.NOT_REACHED


def test_a_rolled_back_rollout_fails_its_stage_and_a_skipped_environment_is_not_reached() -> None:
    records = FlowRecords(
        project="shop",
        environments=ENVIRONMENTS,
        pipelines=[pipeline(6, "f", created=0, started=0, finished=10)],
        deploy_events=[
            # Straight to prod, skipping test and staging: ready when the artifact was.
            event(1, "prod", DeployEventKind.STARTED, 15, "f", 7),
            event(2, "prod", DeployEventKind.ROLLED_BACK, 40, "f", 7),
        ],
    )
    (row,) = assess_value_stream(records, at(100))
    found = stages(row)
    assert found["test"].state is StageState.NOT_REACHED
    assert found["prod"].state is StageState.FAILED
    assert found["prod"].detail == "rollout #7 rolled back"
    assert (found["prod"].working, found["prod"].waiting) == (25.0, 5.0)


def test_rows_are_newest_first_one_per_commit_and_only_of_trunk() -> None:
    records = FlowRecords(
        project="shop",
        environments=(),
        pipelines=[
            pipeline(1, "a", created=0, started=0, finished=5),
            pipeline(2, "b", created=10, started=10, finished=15),
            pipeline(3, "a", created=20, started=20, finished=25),  # a rerun of a
            pipeline(4, "z", created=30, started=30, finished=35, on_trunk=False),
        ],
    )
    rows = assess_value_stream(records, at(100))
    assert [(row.commit, row.pipeline_id) for row in rows] == [("a", 3), ("b", 2)]
    # With no environment, the release stage is never reached.
    assert rows[0].stages[-1].state is StageState.NOT_REACHED


def test_a_flag_change_releases_the_latest_commit_that_had_reached_the_last_environment() -> None:
    def reached_prod(id: int, commit: str, finished: float) -> list[DeployEventRecord]:
        return [
            event(id * 2, "prod", DeployEventKind.STARTED, finished - 5, commit, id),
            event(id * 2 + 1, "prod", DeployEventKind.FINISHED, finished, commit, id),
        ]

    records = FlowRecords(
        project="shop",
        environments=("prod",),
        pipelines=[
            pipeline(1, "a", created=0, started=0, finished=5),
            pipeline(2, "b", created=6, started=6, finished=10),
        ],
        deploy_events=[*reached_prod(1, "a", 20), *reached_prod(2, "b", 50)],
        flag_changes=[
            flag_change(1, 30),
            flag_change(2, 40, FlagChangeKind.KILLED),  # not a release
            flag_change(3, 70),
            flag_change(4, 80),
        ],
    )
    rows = {row.commit: stages(row)["release"] for row in assess_value_stream(records, at(99))}
    assert rows["a"].started_at == at(30)
    assert rows["b"].started_at == at(70)
