"""PipelineRepository on SQLite and PostgreSQL: round trips, updates, and the orders the
scheduler and the line rely on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from andon.errors import NotFoundError, UsageError
from andon.store import PipelineRecord, PipelineStatus, Store

COMMIT = "3f2c1a9e" * 5


def create(store: Store, project: str = "shop", **changes: Any) -> PipelineRecord:
    fields: dict[str, Any] = {
        "project": project,
        "commit": COMMIT,
        "branch": "main",
        "trigger": "poll",
        "on_trunk": True,
    }
    fields.update(changes)
    return store.pipelines.create(**fields)


def finish(
    store: Store, pipeline: PipelineRecord, status: PipelineStatus, at: datetime | None
) -> PipelineRecord:
    return store.pipelines.update(pipeline.id, status=status, finished_at=at)


def test_a_created_pipeline_is_queued_now_and_reads_back_the_same(store: Store, clock: Any) -> None:
    created = create(store, branch="feature/cart", trigger="hook", on_trunk=False)

    assert created.status is PipelineStatus.QUEUED
    assert created.created_at == clock.now
    assert (created.started_at, created.finished_at, created.error, created.artifact) == (
        None,
        None,
        None,
        None,
    )
    assert (created.branch, created.trigger, created.on_trunk) == ("feature/cart", "hook", False)
    assert store.pipelines.get(created.id) == created


def test_pipeline_ids_grow_in_creation_order(store: Store) -> None:
    ids = [create(store, commit=str(n) * 40).id for n in range(5)]

    assert ids == sorted(ids)
    assert len(set(ids)) == 5


def test_a_rerun_remembers_the_pipeline_it_reruns(store: Store) -> None:
    first = create(store)

    rerun = create(store, trigger="rerun", rerun_of=first.id)

    assert store.pipelines.get(rerun.id).rerun_of == first.id


def test_getting_an_unknown_pipeline_is_not_found_and_says_how_to_list(store: Store) -> None:
    with pytest.raises(NotFoundError) as caught:
        store.pipelines.get(5)

    assert str(caught.value) == "no pipeline #5; 'andon pipeline list' shows recent ones."


def test_updating_changes_only_the_given_fields(store: Store, clock: Any) -> None:
    created = create(store)
    started = clock.advance(seconds=3)

    running = store.pipelines.update(created.id, status=PipelineStatus.RUNNING, started_at=started)
    failed = store.pipelines.update(
        created.id, status=PipelineStatus.FAILED, error="andon.yaml:3:1: jobs: unknown key"
    )

    assert running.status is PipelineStatus.RUNNING
    assert running.started_at == started
    assert failed.status is PipelineStatus.FAILED
    assert failed.error == "andon.yaml:3:1: jobs: unknown key"
    assert failed.started_at == started
    assert (failed.created_at, failed.commit, failed.finished_at) == (
        created.created_at,
        created.commit,
        None,
    )
    assert store.pipelines.get(created.id) == failed


def test_an_update_without_fields_returns_the_pipeline_unchanged(store: Store) -> None:
    created = create(store)

    assert store.pipelines.update(created.id) == created


def test_updating_an_unknown_pipeline_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no pipeline #42"):
        store.pipelines.update(42, status=PipelineStatus.RUNNING)


def test_a_naive_time_is_refused_and_leaves_the_pipeline_as_it_was(store: Store) -> None:
    created = create(store)

    with pytest.raises(ValueError, match="finished_at must be a timezone-aware"):
        store.pipelines.update(
            created.id, status=PipelineStatus.SUCCESS, finished_at=datetime(2024, 5, 1, 13, 0)
        )

    assert store.pipelines.get(created.id) == created


def test_the_list_is_newest_first_and_filters_by_project_status_and_limit(store: Store) -> None:
    shop_old = create(store)
    web = create(store, "web")
    shop_new = create(store, commit="b" * 40)
    store.pipelines.update(shop_old.id, status=PipelineStatus.RUNNING)

    assert [p.id for p in store.pipelines.list()] == [shop_new.id, web.id, shop_old.id]
    assert [p.id for p in store.pipelines.list(project="shop")] == [shop_new.id, shop_old.id]
    assert [p.id for p in store.pipelines.list(limit=1)] == [shop_new.id]
    assert [
        p.id for p in store.pipelines.list(project="shop", statuses=[PipelineStatus.RUNNING])
    ] == [shop_old.id]
    assert store.pipelines.list(statuses=[]) == []


def test_a_limit_below_one_is_a_usage_error(store: Store) -> None:
    with pytest.raises(UsageError, match="at least 1, not -1"):
        store.pipelines.list(limit=-1)


def test_the_latest_pipeline_for_a_commit_is_the_newest_of_that_project(store: Store) -> None:
    create(store)
    newer = create(store, trigger="manual")
    create(store, "web")

    assert store.pipelines.latest_for_commit("shop", COMMIT) == newer
    assert store.pipelines.latest_for_commit("shop", "0" * 40) is None
    assert store.pipelines.latest_for_commit("billing", COMMIT) is None


def test_the_last_finished_trunk_pipeline_is_the_last_to_finish_not_the_last_created(
    store: Store, clock: Any
) -> None:
    older = create(store, commit="a" * 40)
    newer = create(store, commit="b" * 40)
    finish(store, newer, PipelineStatus.FAILED, clock.advance(minutes=1))
    finish(store, older, PipelineStatus.SUCCESS, clock.advance(minutes=1))

    assert store.pipelines.last_finished_on_trunk("shop") == store.pipelines.get(older.id)


def test_pipelines_finishing_at_one_instant_are_ordered_by_id(store: Store, clock: Any) -> None:
    at = clock.advance(minutes=1)
    first = create(store)
    second = create(store)
    finish(store, second, PipelineStatus.SUCCESS, at)
    finish(store, first, PipelineStatus.FAILED, at)

    assert store.pipelines.last_finished_on_trunk("shop") == store.pipelines.get(second.id)


def test_the_last_finished_trunk_pipeline_ignores_branches_cancels_and_other_projects(
    store: Store, clock: Any
) -> None:
    decided = create(store)
    finish(store, decided, PipelineStatus.FAILED, clock.advance(minutes=1))
    for status in (PipelineStatus.CANCELED, PipelineStatus.INTERRUPTED):
        finish(store, create(store), status, clock.advance(minutes=1))
    finish(store, create(store, on_trunk=False), PipelineStatus.SUCCESS, clock.advance(minutes=1))
    finish(store, create(store, "web"), PipelineStatus.SUCCESS, clock.advance(minutes=1))
    create(store)

    assert store.pipelines.last_finished_on_trunk("shop") == store.pipelines.get(decided.id)
    assert store.pipelines.last_finished_on_trunk("billing") is None


def test_the_last_green_trunk_pipeline_is_the_newest_that_passed(store: Store, clock: Any) -> None:
    older = create(store, commit="a" * 40)
    newer = create(store, commit="b" * 40)
    red = create(store, commit="c" * 40)
    branch = create(store, commit="d" * 40, on_trunk=False)
    finish(store, newer, PipelineStatus.SUCCESS, clock.advance(minutes=1))
    finish(store, older, PipelineStatus.SUCCESS, clock.advance(minutes=1))
    finish(store, red, PipelineStatus.FAILED, clock.advance(minutes=1))
    finish(store, branch, PipelineStatus.SUCCESS, clock.advance(minutes=1))

    assert store.pipelines.last_green_on_trunk("shop") == store.pipelines.get(newer.id)
    assert store.pipelines.last_green_on_trunk("web") is None


def test_unfinished_pipelines_are_the_queued_and_running_oldest_first(store: Store) -> None:
    running = create(store, "web")
    store.pipelines.update(running.id, status=PipelineStatus.RUNNING)
    done = create(store)
    store.pipelines.update(done.id, status=PipelineStatus.SUCCESS)
    queued = create(store)

    assert [p.id for p in store.pipelines.unfinished()] == [running.id, queued.id]


def test_known_commits_are_the_projects_commits_each_once(store: Store) -> None:
    create(store, commit="a" * 40)
    create(store, commit="a" * 40)
    create(store, commit="b" * 40)
    create(store, "web", commit="c" * 40)

    assert store.pipelines.known_commits("shop") == {"a" * 40, "b" * 40}
    assert store.pipelines.known_commits("billing") == set()


def test_to_dict_gives_json_values_with_utc_timestamps(store: Store) -> None:
    created = create(store)
    finished_at = datetime(2024, 5, 1, 14, 30, tzinfo=UTC) + timedelta(microseconds=5)
    record = store.pipelines.update(
        created.id, status=PipelineStatus.SUCCESS, finished_at=finished_at, artifact="sha256:ab"
    )

    as_dict = record.to_dict()

    assert as_dict == {
        "id": created.id,
        "project": "shop",
        "commit": COMMIT,
        "branch": "main",
        "trigger": "poll",
        "status": "success",
        "error": None,
        "rerun_of": None,
        "created_at": "2024-05-01T12:00:00.123456Z",
        "started_at": None,
        "finished_at": "2024-05-01T14:30:00.000005Z",
        "artifact": "sha256:ab",
        "on_trunk": True,
    }
    assert type(as_dict["status"]) is str
    assert json.loads(json.dumps(as_dict)) == as_dict


def test_the_artifact_of_a_commit_is_the_newest_one_its_pipelines_recorded(store: Store) -> None:
    digest = "sha256:" + "ab" * 32
    older = store.pipelines.create(
        project="shop", commit="c1", branch="main", trigger="poll", on_trunk=True
    )
    store.pipelines.update(older.id, artifact=digest)
    store.pipelines.create(
        project="shop", commit="c1", branch="main", trigger="manual", on_trunk=True
    )
    assert store.pipelines.artifact_for_commit("shop", "c1") == digest
    assert store.pipelines.artifact_for_commit("shop", "c2") is None
    assert store.pipelines.artifact_for_commit("other", "c1") is None
