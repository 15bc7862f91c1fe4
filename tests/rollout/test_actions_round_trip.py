"""Every action reads back from what it writes: a reconciler persists the actions of a
decision before applying them, and applies them again after a restart."""

from __future__ import annotations

from datetime import timedelta

import pytest

from andon.rollout import (
    EventKind,
    HeaderRoute,
    Mirror,
    RecordEvent,
    RunMigrations,
    RunSmokeTests,
    SetTraffic,
    StartAnalysis,
    StartInstances,
    StopInstances,
    Traffic,
    action_from_dict,
)

ACTIONS = [
    StartInstances("v2", 3),
    StopInstances("v1", keep=1),
    RunMigrations("v2", attempt=2),
    RunSmokeTests("v2", "X-Andon-Version", "v2", attempt=1),
    SetTraffic(
        Traffic(
            {"v1": 90, "v2": 10},
            (HeaderRoute("X-Canary", "always", "v2"),),
            Mirror("v2", 5.0),
        )
    ),
    StartAnalysis(3, "v2", "v1", ("errors", "latency"), timedelta(seconds=30)),
    StartAnalysis(4, "v2", None, (), None),
    RecordEvent(EventKind.ROLLED_BACK, "v2", "rolled back: canary error rate 4.1% vs 0.2%"),
]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: type(action).__name__)
def test_an_action_reads_back_from_its_dict(action: object) -> None:
    assert action_from_dict(action.to_dict()) == action  # type: ignore[attr-defined]


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown action kind 'teleport'"):
        action_from_dict({"kind": "teleport"})
