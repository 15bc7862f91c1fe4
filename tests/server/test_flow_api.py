"""The flow API over a real SQLite store, written as the runner and the deployers would
write it (their times from the store's clock): one commit that went from its pipeline to
prod five hours ago, the line stopped twice since; windows that pick what ended in them,
and windows given wrongly refused with one sentence."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from andon.server import create_app
from andon.settings import Settings
from andon.store import (
    DeployEventKind,
    JobStatus,
    LineState,
    NewJob,
    PipelineStatus,
    Role,
    Store,
    open_store,
)
from andon.testing import FakeClock, bearer, user_bearer


@dataclass
class Api:
    client: TestClient
    store: Store
    start: datetime
    """When the fixture began: the commit's pipeline was created five hours before it."""

    def flow(self, since: str | None = None, project: str = "shop") -> Any:
        query = {} if since is None else {"since": since}
        return self.client.get(f"/api/v1/projects/{project}/flow", params=query)

    def ok(self, since: str | None = None) -> dict[str, Any]:
        response = self.flow(since)
        assert response.status_code == 200, response.text
        return dict(response.json())


def seed(store: Store, clock: FakeClock, start: datetime) -> None:
    """Commit ``a`` five hours before ``start``: queued 2 min, tested 8 min, packaged 2 min
    after a minute's wait, in test 5 min after 7, in prod 10 min after 35. The line stopped
    for 30 min three hours before, and by hand 20 min before ``start``, still stopped."""

    def minutes(n: float) -> datetime:
        return start - timedelta(hours=5) + timedelta(minutes=n)

    store.projects.add(
        name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
        commit="a" * 40, spec={"environments": {"test": {}, "prod": {"protected": True}}},
    )  # fmt: skip
    clock.at = minutes(0)
    pipeline = store.pipelines.create(
        project="shop", commit="a" * 40, branch="main", trigger="poll", on_trunk=True
    )
    unit, package = store.jobs.create_many(
        pipeline.id,
        [NewJob(name="unit", job="unit", stage="test"), NewJob("package", "package", "package")],
    )
    for job, began, ended in ((unit, 2, 10), (package, 11, 13)):
        store.jobs.update(
            job.id, status=JobStatus.SUCCESS, started_at=minutes(began), finished_at=minutes(ended)
        )
    store.pipelines.update(
        pipeline.id,
        status=PipelineStatus.SUCCESS,
        started_at=minutes(2),
        finished_at=minutes(13),
        artifact="sha256:" + "a" * 64,
    )
    for environment, began, ended in (("test", 20, 25), ("prod", 60, 70)):
        for kind, when in ((DeployEventKind.STARTED, began), (DeployEventKind.FINISHED, ended)):
            store.deploy_events.record(
                project="shop", environment=environment, kind=kind, version="a" * 40,
                artifact="sha256:" + "a" * 64, commits=["a" * 40], at=minutes(when),
            )  # fmt: skip
    for state, when, reason in (
        (LineState.STOPPED, start - timedelta(hours=3), "trunk is red: unit failed"),
        (LineState.RUNNING, start - timedelta(hours=2, minutes=30), "trunk is green"),
        (LineState.STOPPED, start - timedelta(minutes=20), "payment provider down"),
    ):
        store.line.append(
            project="shop", state=state, cause="manual", reason=reason, actor="ann", at=when
        )
    clock.at = start


@pytest.fixture
def api(andon_home: Path) -> Iterator[Api]:
    settings = Settings.from_env()
    start = datetime.now(UTC)
    clock = FakeClock(start)
    with open_store(settings.database_url, clock=clock) as store:
        seed(store, clock, start)
        with TestClient(
            create_app(settings, store, controllers=False), headers=bearer(settings, store)
        ) as client:
            yield Api(client, store, start)


def by_name(flow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stage["name"]: stage for stage in flow["stages"]}


def test_the_flow_of_the_last_30_days_has_each_stages_process_and_wait(api: Api) -> None:
    flow = api.ok()  # 30 days unless asked
    assert flow["project"] == "shop" and flow["environments"] == ["test", "prod"]
    assert flow["days"] == pytest.approx(30)
    stages = by_name(flow)
    assert list(stages) == ["pipeline", "artifact", "test", "prod", "release"]
    times = {
        name: (s["items"], s["process_seconds"], s["wait_seconds"]) for name, s in stages.items()
    }
    assert times == {
        "pipeline": (1, 480.0, 120.0),
        "artifact": (1, 120.0, 60.0),
        "test": (1, 300.0, 420.0),
        "prod": (1, 600.0, 2100.0),
        "release": (0, 0.0, 0.0),  # no flag released it
    }
    assert stages["pipeline"]["efficiency"] == pytest.approx(0.8)
    lead = flow["lead_time"]
    assert (lead["to"], lead["commits"], lead["median_seconds"]) == ("prod", 1, 4200.0)
    assert (lead["process_seconds"], lead["wait_seconds"]) == (1500.0, 2700.0)


def test_the_line_has_stopped_twice_and_is_stopped_now(api: Api) -> None:
    line = api.ok("1d")["line"]
    assert (line["stops"], line["stopped_now"]) == (2, True)
    # 30 minutes, and the 20 of the stop still open (and the moments of this request).
    assert 3000 <= line["stopped_seconds"] < 3060
    assert line["stopped_share"] == pytest.approx(line["stopped_seconds"] / 86_400)
    longest = line["longest"]
    assert (longest["seconds"], longest["reason"]) == (1800.0, "trunk is red: unit failed")


def test_a_window_counts_only_what_ended_in_it(api: Api) -> None:
    # Four hours back: the pipeline had ended before, prod ended after.
    four = by_name(api.ok("4h"))
    assert (four["pipeline"]["items"], four["prod"]["items"]) == (0, 1)
    # An hour back, given as a time: nothing of the commit, only the open stop.
    hour_ago = (api.start - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    flow = api.ok(hour_ago)
    assert flow["since"] == hour_ago
    assert all(stage["items"] == 0 for stage in flow["stages"])
    assert flow["lead_time"]["commits"] == 0
    assert flow["line"]["stops"] == 1
    assert flow["line"]["longest"]["reason"] == "payment provider down"


def test_a_viewer_of_the_project_may_read_its_flow(api: Api) -> None:
    viewer = user_bearer(api.store, "vic", Role.VIEWER, "shop")
    response = api.client.get("/api/v1/projects/shop/flow", headers=viewer)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("since", "said"),
    [
        ("soon", "since: 'soon' is neither a duration nor a time; give a duration back"),
        ("30x", "since: expected a duration such as 30s, 5m or 2h, got '30x'"),
        ("2999-01-01T00:00:00Z", "since: 2999-01-01T00:00:00Z is not in the past"),
        ("1000-01-01", "since: 1000-01-01 is more than a century ago"),
    ],
)
def test_a_window_given_wrongly_is_refused_saying_what_to_give(
    api: Api, since: str, said: str
) -> None:
    response = api.flow(since)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert error["message"].startswith(said)
    assert "\n" not in error["message"]


def test_the_flow_of_an_unknown_project_is_not_found(api: Api) -> None:
    response = api.flow(project="nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
