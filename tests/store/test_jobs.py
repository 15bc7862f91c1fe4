"""JobRepository on SQLite and PostgreSQL: creating a pipeline's jobs, updating them, and
finding a cached result within one project only."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from andon.errors import ConflictError, NotFoundError
from andon.store import JobRecord, JobStatus, NewJob, PipelineRecord, Store, metadata

PLAN = [
    NewJob(name="build", job="build", stage="build"),
    NewJob(name="unit[1/2]", job="unit", stage="test", shard_index=0, shard_total=2,
           needs=["build"]),
    NewJob(name="unit[2/2]", job="unit", stage="test", shard_index=1, shard_total=2,
           needs=["build"]),
    NewJob(name="package", job="package", stage="package", needs=["unit[1/2]", "unit[2/2]"]),
]  # fmt: skip

TEST_REPORT: dict[str, Any] = {
    "total": 120,
    "failed": 1,
    "skipped": 2,
    "failing": ["tests/test_cart.py::test_total"],
}


def create_pipeline(store: Store, project: str = "shop") -> PipelineRecord:
    return store.pipelines.create(
        project=project, commit="a" * 40, branch="main", trigger="poll", on_trunk=True
    )


def plan(store: Store, project: str = "shop") -> list[JobRecord]:
    return store.jobs.create_many(create_pipeline(store, project).id, PLAN)


def count_jobs(store: Store) -> int:
    with store.engine.connect() as connection:
        count: int = connection.execute(
            select(func.count()).select_from(metadata.tables["jobs"])
        ).scalar_one()
    return count


def succeed_with_key(store: Store, job: JobRecord, cache_key: str) -> JobRecord:
    return store.jobs.update(job.id, status=JobStatus.SUCCESS, cache_key=cache_key)


def test_created_jobs_are_pending_in_the_order_given_and_read_back_the_same(
    store: Store,
) -> None:
    created = plan(store)

    assert [job.name for job in created] == ["build", "unit[1/2]", "unit[2/2]", "package"]
    assert all(job.status is JobStatus.PENDING for job in created)
    unit = created[2]
    assert (unit.job, unit.stage, unit.shard_index, unit.shard_total, unit.needs) == (
        "unit",
        "test",
        1,
        2,
        ("build",),
    )
    assert (unit.reason, unit.attempts, unit.flaky, unit.tests, unit.exit_code) == (
        "",
        0,
        (),
        None,
        None,
    )
    assert store.jobs.list_for_pipeline(unit.pipeline_id) == created
    assert store.jobs.get(unit.id) == unit
    assert store.jobs.get_by_name(unit.pipeline_id, "unit[2/2]") == unit


def test_jobs_of_another_pipeline_are_not_listed(store: Store) -> None:
    first = plan(store)
    plan(store)

    assert store.jobs.list_for_pipeline(first[0].pipeline_id) == first


def test_creating_no_jobs_creates_nothing(store: Store) -> None:
    assert store.jobs.create_many(create_pipeline(store).id, []) == []
    assert count_jobs(store) == 0


def test_creating_jobs_for_an_unknown_pipeline_is_not_found_and_creates_none(
    store: Store,
) -> None:
    with pytest.raises(NotFoundError, match="no pipeline #77"):
        store.jobs.create_many(77, PLAN)

    assert count_jobs(store) == 0


def test_two_jobs_of_one_name_are_a_conflict_and_none_is_created(store: Store) -> None:
    pipeline = create_pipeline(store)

    with pytest.raises(ConflictError, match="cannot have two jobs named build"):
        store.jobs.create_many(pipeline.id, [*PLAN, NewJob(name="build", job="x", stage="jobs")])

    assert count_jobs(store) == 0


def test_creating_a_pipelines_jobs_twice_is_a_conflict_and_keeps_the_first(
    store: Store,
) -> None:
    created = plan(store)
    pipeline_id = created[0].pipeline_id

    with pytest.raises(ConflictError, match="has jobs of these names already"):
        store.jobs.create_many(pipeline_id, [NewJob(name="lint", job="lint", stage="jobs"), *PLAN])

    assert store.jobs.list_for_pipeline(pipeline_id) == created


def test_unknown_jobs_are_not_found_and_say_where_to_look(store: Store) -> None:
    pipeline_id = plan(store)[0].pipeline_id

    with pytest.raises(NotFoundError, match=r"^no job #999; 'andon pipeline show"):
        store.jobs.get(999)
    with pytest.raises(NotFoundError) as caught:
        store.jobs.get_by_name(pipeline_id, "e2e")
    assert str(caught.value) == (
        f"pipeline #{pipeline_id} has no job named 'e2e'; "
        f"'andon pipeline show {pipeline_id}' lists its jobs."
    )
    with pytest.raises(NotFoundError, match="no job #999"):
        store.jobs.update(999, status=JobStatus.RUNNING)


def test_updating_a_job_changes_only_the_given_fields(store: Store, clock: Any) -> None:
    job = plan(store)[1]
    started = clock.now
    finished = started + timedelta(minutes=2, seconds=3.5)

    running = store.jobs.update(
        job.id, status=JobStatus.RUNNING, started_at=started, log_path="/logs/1/unit-1.log"
    )
    done = store.jobs.update(
        job.id,
        status=JobStatus.FAILED,
        reason="exit code 1",
        exit_code=1,
        attempts=2,
        cache_key="k1",
        finished_at=finished,
        tests=TEST_REPORT,
        flaky=["tests/test_cart.py::test_discount"],
    )

    assert running.status is JobStatus.RUNNING
    assert running.duration is None
    assert done.started_at == started
    assert done.log_path == "/logs/1/unit-1.log"
    assert (done.status, done.reason, done.exit_code, done.attempts, done.cache_key) == (
        JobStatus.FAILED,
        "exit code 1",
        1,
        2,
        "k1",
    )
    assert done.tests == TEST_REPORT
    assert done.flaky == ("tests/test_cart.py::test_discount",)
    assert done.duration == 123.5
    assert (done.name, done.needs, done.stage) == (job.name, job.needs, job.stage)
    assert store.jobs.get(job.id) == done


def test_an_update_without_fields_returns_the_job_unchanged(store: Store) -> None:
    job = plan(store)[0]

    assert store.jobs.update(job.id) == job


def test_a_cached_job_points_at_the_job_it_reuses(store: Store) -> None:
    original = succeed_with_key(store, plan(store)[0], "k-build")
    reuser = plan(store)[0]

    cached = store.jobs.update(reuser.id, status=JobStatus.CACHED, cached_from=original.id)

    assert cached.cached_from == original.id
    assert cached.status.ok


def test_find_cached_returns_the_newest_success_with_the_key(store: Store) -> None:
    older = succeed_with_key(store, plan(store)[0], "k-build")
    newer = succeed_with_key(store, plan(store)[0], "k-build")
    succeed_with_key(store, plan(store)[0], "k-other")

    assert store.jobs.find_cached("shop", "k-build") == newer
    assert older.id < newer.id


def test_find_cached_ignores_jobs_that_did_not_succeed(store: Store) -> None:
    for status in (
        JobStatus.FAILED,
        JobStatus.INFRA_FAILED,
        JobStatus.CANCELED,
        JobStatus.RUNNING,
        JobStatus.CACHED,
    ):
        job = plan(store)[0]
        store.jobs.update(job.id, status=status, cache_key="k-build")

    assert store.jobs.find_cached("shop", "k-build") is None


def test_find_cached_never_returns_another_projects_job(store: Store) -> None:
    succeed_with_key(store, plan(store, "web")[0], "k-shared")

    assert store.jobs.find_cached("shop", "k-shared") is None

    own = succeed_with_key(store, plan(store, "shop")[0], "k-shared")
    succeed_with_key(store, plan(store, "web")[0], "k-shared")
    assert store.jobs.find_cached("shop", "k-shared") == own


def test_deleting_a_pipeline_row_deletes_its_jobs_on_every_backend(store: Store) -> None:
    doomed = plan(store)
    kept = plan(store)

    with store.engine.begin() as connection:
        pipelines = metadata.tables["pipelines"]
        connection.execute(delete(pipelines).where(pipelines.c.id == doomed[0].pipeline_id))

    assert store.jobs.list_for_pipeline(doomed[0].pipeline_id) == []
    assert store.jobs.list_for_pipeline(kept[0].pipeline_id) == kept
    assert count_jobs(store) == len(kept)


def test_to_dict_gives_json_values_with_utc_timestamps_and_the_duration(
    store: Store, clock: Any
) -> None:
    job = plan(store)[3]
    record = store.jobs.update(
        job.id,
        status=JobStatus.SUCCESS,
        started_at=clock.now,
        finished_at=clock.now + timedelta(seconds=90),
        tests=TEST_REPORT,
    )

    as_dict = record.to_dict()

    assert as_dict["status"] == "success"
    assert as_dict["needs"] == ["unit[1/2]", "unit[2/2]"]
    assert as_dict["started_at"] == "2024-05-01T12:00:00.123456Z"
    assert as_dict["finished_at"] == "2024-05-01T12:01:30.123456Z"
    assert as_dict["duration"] == 90.0
    assert as_dict["flaky"] == []
    assert json.loads(json.dumps(as_dict)) == as_dict
    as_dict["tests"]["failing"].append("changed")
    assert record.tests == TEST_REPORT
