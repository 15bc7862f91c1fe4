"""``assess_dora``: the five metrics over a window and the one before it, their levels and
trends, in the JSON shape the API, the CLI and the dashboard share."""

from __future__ import annotations

from typing import Any

import pytest

from andon.dora import assess_deployments, assess_dora, quantile
from andon.store import DeployEventKind

ROLLED_BACK = DeployEventKind.ROLLED_BACK
TWO_DAYS = 2 * 24 * 60  # minutes


def report(log: Any, *, project: str | None = "shop", until: float = TWO_DAYS) -> dict[str, Any]:
    now = log.at(until)
    return assess_dora(
        assess_deployments(log.events, now),
        project=project,
        environment="prod",
        since=log.at(until - TWO_DAYS),
        until=now,
    ).to_dict()


def test_two_days_of_deployments_give_every_metric_its_level_and_trend(log: Any) -> None:
    # The day before: one release, 110 minutes from commit to prod.
    log.deploy(1, "v1", -600, -590, committed={"a": -700})
    # The window: two days from T0.
    log.deploy(2, "v2", 60, 70, committed={"b": 0, "c": 30})
    log.deploy(3, "v3", 120, 135, ROLLED_BACK, committed={"d": 100})
    log.deploy(4, "v4", 200, 210, committed={"d": 100, "e": 190})
    log.deploy(5, "v5", 300, 310, committed={"f": 280})
    log.deploy(6, "v4", 320, 330)  # the undo of v5
    log.deploy(7, "v6", 400, None, committed={"g": 390})

    found = report(log)

    listed = found.pop("deployment_list")
    assert found == {
        "project": "shop",
        "environment": "prod",
        "since": "2025-03-01T09:00:00Z",
        "until": "2025-03-03T09:00:00Z",
        "days": 2.0,
        "deployments": {"total": 6, "succeeded": 3, "failed": 2, "in_progress": 1, "rework": 2},
        "metrics": {
            "deployment_frequency": {
                "value": 3.0, "count": 6, "level": "elite", "previous": 0.5, "trend": "better",
            },
            # b 70, c 40, d 110 (it waited for v4), e 20 minutes.
            "change_lead_time": {
                "median_seconds": 3300.0, "p90_seconds": 5880.0, "commits": 4,
                "level": "elite", "previous": 6600.0, "trend": "better",
            },
            "change_fail_rate": {
                "value": 0.4, "failed": 2, "deployments": 5,
                "level": "low", "previous": 0.0, "trend": "worse",
            },
            # v3 rolled back after 15 minutes; v5 was undone 30 minutes after it started.
            "failed_deployment_recovery_time": {
                "median_seconds": 1350.0, "p90_seconds": 1710.0, "recoveries": 2,
                "level": "elite", "previous": None, "trend": None,
            },
            "deployment_rework_rate": {
                "value": 0.4, "rework": 2, "deployments": 5,
                "level": None, "previous": 0.0, "trend": "worse",
            },
        },
    }  # fmt: skip
    assert [(d["rollout_id"], d["outcome"], d["rework"]) for d in listed] == [
        (2, "succeeded", False),
        (3, "failed", False),
        (4, "succeeded", True),
        (5, "failed", False),
        (6, "succeeded", True),
        (7, "in_progress", False),
    ]
    assert [d["recovery_seconds"] for d in listed] == [None, 900.0, None, 1800.0, None, None]


def test_an_environment_never_deployed_to_has_no_data(log: Any) -> None:
    log.deploy(1, "v1", 10, 20, environment="staging")

    metrics = report(log)["metrics"]

    assert {name: metric["level"] for name, metric in metrics.items()} == dict.fromkeys(
        metrics, None
    )
    assert metrics["deployment_frequency"] == {
        "value": None, "count": 0, "level": None, "previous": None, "trend": None
    }  # fmt: skip
    assert metrics["change_fail_rate"]["value"] is None
    assert metrics["change_lead_time"]["median_seconds"] is None


def test_deployments_that_stopped_are_a_low_frequency_not_missing_data(log: Any) -> None:
    log.deploy(1, "v1", -600, -590)

    frequency = report(log)["metrics"]["deployment_frequency"]

    assert frequency == {
        "value": 0.0, "count": 0, "level": "low", "previous": 0.5, "trend": "worse"
    }  # fmt: skip


def test_the_deployments_of_every_project_count_together_without_a_project(log: Any) -> None:
    log.deploy(1, "v1", 10, 20, project="shop")
    log.deploy(2, "w1", 30, 40, ROLLED_BACK, project="web")
    log.deploy(3, "w2", 50, 60, project="web")

    every = report(log, project=None)
    shop = report(log)

    assert every["project"] is None
    assert every["deployments"] == {
        "total": 3, "succeeded": 2, "failed": 1, "in_progress": 0, "rework": 1
    }  # fmt: skip
    assert shop["deployments"]["total"] == 1
    # web's rollback is not followed by shop's next deployment: each keeps its history.
    assert [d["rework"] for d in every["deployment_list"]] == [False, False, True]


def test_a_deployment_counts_in_the_window_it_started_in(log: Any) -> None:
    log.deploy(1, "v1", -30, 20, committed={"a": -40})

    found = report(log)

    assert found["deployments"]["total"] == 0
    assert found["metrics"]["change_lead_time"]["previous"] == 3600.0


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 0.5, None),
        ([7.0], 0.9, 7.0),
        ([3.0, 1.0, 2.0], 0.5, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
        ([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0], 0.9, 91.0),
    ],
)
def test_quantiles_interpolate_linearly_between_the_nearest_ranks(
    values: list[float], q: float, expected: float | None
) -> None:
    found = quantile(values, q)

    assert found == (None if expected is None else pytest.approx(expected))
