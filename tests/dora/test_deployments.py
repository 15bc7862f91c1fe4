"""``assess_deployments``: deploy events become deployments with an outcome, a reason,
rework, the time service was restored, and commit lead times, as DORA defines them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from andon.dora import Deployment, Outcome, assess_deployments
from andon.store import DeployEventKind

STARTED, FINISHED = DeployEventKind.STARTED, DeployEventKind.FINISHED
ROLLED_BACK, ABORTED, FAILED = (
    DeployEventKind.ROLLED_BACK,
    DeployEventKind.ABORTED,
    DeployEventKind.FAILED,
)
LATER = 100_000  # minutes: after every event of a test


def summary(deployment: Deployment) -> tuple[Any, ...]:
    return (
        deployment.rollout_id,
        deployment.outcome.value,
        deployment.rework,
        deployment.restored_at,
    )


def test_a_finished_deployment_succeeded_and_its_commits_lead_from_commit_to_finish(
    log: Any,
) -> None:
    log.deploy(1, "v1", 60, 75, committed={"a1": 0, "a2": 30})

    (deployment,) = assess_deployments(log.events, log.at(LATER))

    assert deployment.outcome is Outcome.SUCCEEDED
    assert (deployment.started_at, deployment.ended_at) == (log.at(60), log.at(75))
    assert (deployment.why, deployment.rework, deployment.recovery) == ("finished", False, None)
    assert [(c.sha, c.lead_time) for c in deployment.commits] == [
        ("a1", timedelta(minutes=75)),
        ("a2", timedelta(minutes=45)),
    ]


def test_a_rollback_fails_the_deployment_restores_service_then_and_makes_the_next_rework(
    log: Any,
) -> None:
    log.deploy(1, "v1", 0, 10)
    log.deploy(2, "v2", 20, 32, ROLLED_BACK, message="error rate 9% above 5%", committed={"b": 15})
    log.deploy(3, "v3", 40, 50, committed={"c": 35})

    first, failed, fix = assess_deployments(log.events, log.at(LATER))

    assert summary(failed) == (2, "failed", False, log.at(32))
    assert failed.why == "rolled back: error rate 9% above 5%"
    assert failed.recovery == timedelta(minutes=12)
    assert summary(fix) == (3, "succeeded", True, None)
    assert summary(first) == (1, "succeeded", False, None)


def test_an_abort_and_a_failed_deploy_step_are_failures_too(log: Any) -> None:
    log.deploy(1, "v1", 0, 5, ABORTED, message="aborted by ada: undo")
    log.deploy(2, "v2", 10, 12, FAILED, message="v2 did not become ready within 1m")

    aborted, failed = assess_deployments(log.events, log.at(LATER))

    assert summary(aborted) == (1, "failed", False, log.at(5))
    assert aborted.why == "aborted by ada: undo"
    assert summary(failed) == (2, "failed", True, log.at(12))
    assert failed.why == "failed: v2 did not become ready within 1m"


def test_a_release_undone_after_it_finished_needed_a_fix_and_the_undo_is_rework(
    log: Any,
) -> None:
    log.deploy(1, "v1", 0, 10, committed={"a": -5})
    log.deploy(2, "v2", 20, 30, committed={"b": 15})
    # The undo: back to v1, carrying nothing.
    log.deploy(3, "v1", 45, 52)
    log.deploy(4, "v3", 60, 70, committed={"b": 15, "c": 55})

    first, undone, undo, later = assess_deployments(log.events, log.at(LATER))

    assert summary(undone) == (2, "failed", False, log.at(52))
    assert undone.why == "needed a fix: undone by #3 back to v1"
    assert undone.recovery == timedelta(minutes=32)
    assert summary(undo) == (3, "succeeded", True, None)
    assert undo.why == "finished: back to v1"
    # The undo succeeded, so the release after it is not rework.
    assert summary(later) == (4, "succeeded", False, None)
    # b ran in prod with v2, but only v3's success brought it there for good.
    assert [c.lead_time for c in undone.commits] == [None]
    assert [(c.sha, c.lead_time) for c in later.commits] == [
        ("b", timedelta(minutes=55)),
        ("c", timedelta(minutes=15)),
    ]
    assert first.outcome is Outcome.SUCCEEDED


def test_a_commit_of_a_rolled_back_release_counts_once_when_a_later_release_succeeds(
    log: Any,
) -> None:
    log.deploy(1, "v1", 0, 10, ROLLED_BACK, committed={"a": -20})
    log.deploy(2, "v2", 20, 30, committed={"a": -20, "b": 15})
    log.deploy(3, "v3", 40, 50, committed={"a": -20, "c": 35})

    _, brought, again = assess_deployments(log.events, log.at(LATER))

    assert [(c.sha, c.lead_time) for c in brought.commits] == [
        ("a", timedelta(minutes=50)),
        ("b", timedelta(minutes=15)),
    ]
    assert [(c.sha, c.lead_time) for c in again.commits] == [
        ("a", None),
        ("c", timedelta(minutes=15)),
    ]


def test_a_commit_without_a_known_time_has_no_lead_time(log: Any) -> None:
    log.event(1, STARTED, 0, "v1", commits=["a", "b"], committed={"a": -10})
    log.event(1, FINISHED, 10, "v1", commits=["a", "b"], committed={"a": -10})

    (deployment,) = assess_deployments(log.events, log.at(LATER))

    assert [(c.sha, c.committed_at, c.lead_time) for c in deployment.commits] == [
        ("a", log.at(-10), timedelta(minutes=20)),
        ("b", None, None),
    ]


def test_a_retried_rollout_is_a_second_deployment_made_to_fix_the_first(log: Any) -> None:
    log.deploy(1, "v1", 0, 10, ROLLED_BACK, committed={"a": -5})
    log.deploy(1, "v1", 30, 40, committed={"a": -5})

    first, retry = assess_deployments(log.events, log.at(LATER))

    assert summary(first) == (1, "failed", False, log.at(10))
    assert summary(retry) == (1, "succeeded", True, None)
    assert [c.lead_time for c in retry.commits] == [timedelta(minutes=45)]


def test_a_rollout_under_way_is_in_progress_and_one_that_never_started_is_no_deployment(
    log: Any,
) -> None:
    log.event(1, ABORTED, 0, "v0", message="aborted before it started")
    log.deploy(2, "v1", 10, None, committed={"a": 5})
    log.event(2, DeployEventKind.PAUSED, 15, "v1")

    (deployment,) = assess_deployments(log.events, log.at(LATER))

    assert summary(deployment) == (2, "in_progress", False, None)
    assert (deployment.why, deployment.ended_at) == ("in progress", None)
    assert [c.lead_time for c in deployment.commits] == [None]


def test_events_after_now_are_not_known_yet(log: Any) -> None:
    log.deploy(1, "v1", 0, 10)
    log.deploy(2, "v0", 20, 30)

    (deployment,) = assess_deployments(log.events, log.at(15))

    assert summary(deployment) == (1, "succeeded", False, None)


def test_deploying_the_running_version_again_is_no_undo(log: Any) -> None:
    log.deploy(1, "v1", 0, 10, committed={"a": -5})
    log.deploy(2, "v1", 20, 30)

    first, again = assess_deployments(log.events, log.at(LATER))

    assert summary(first) == (1, "succeeded", False, None)
    assert summary(again) == (2, "succeeded", False, None)


def test_each_environment_and_project_has_its_own_history(log: Any) -> None:
    log.deploy(1, "v1", 0, 10, committed={"a": -5})
    log.deploy(2, "v1", 5, 8, committed={"a": -5}, environment="staging")
    log.deploy(3, "v2", 9, 9.5, committed={"b": 0}, environment="staging")
    # staging's v0 would be an undo of v2 there; prod never ran v2.
    log.deploy(4, "v0", 20, 30, environment="staging")
    log.deploy(5, "w1", 1, 2, ROLLED_BACK, project="web")
    log.deploy(6, "v3", 40, 50, committed={"c": 35})

    found = assess_deployments(log.events, log.at(LATER))

    by_rollout = {d.rollout_id: d for d in found}
    assert [d.rollout_id for d in found] == [1, 5, 2, 3, 4, 6]
    assert summary(by_rollout[3])[:3] == (3, "failed", False)
    assert summary(by_rollout[6]) == (6, "succeeded", False, None)
    # Each environment brings a commit for itself.
    assert by_rollout[2].commits[0].lead_time == timedelta(minutes=13)
    assert by_rollout[1].commits[0].lead_time == timedelta(minutes=15)


def test_a_deployment_as_a_dict_is_json_with_utc_times(log: Any) -> None:
    log.deploy(7, "v1", 0, 1.5, ROLLED_BACK, committed={"a": -1})

    (deployment,) = assess_deployments(log.events, log.at(LATER))

    assert deployment.to_dict() == {
        "rollout_id": 7,
        "project": "shop",
        "environment": "prod",
        "version": "v1",
        "started_at": "2025-03-01T09:00:00Z",
        "ended_at": "2025-03-01T09:01:30Z",
        "outcome": "failed",
        "why": "rolled back",
        "rework": False,
        "restored_at": "2025-03-01T09:01:30Z",
        "recovery_seconds": 90.0,
        "commits": [
            {"sha": "a", "committed_at": "2025-03-01T08:59:00Z", "lead_time_seconds": None}
        ],
    }
