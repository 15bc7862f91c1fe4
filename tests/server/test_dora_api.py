"""The DORA API and ``/metrics`` over a real SQLite store, its deploy events written as the
reconciler writes them: in the last 30 days shop's prod ran v1, rolled v2 back and fixed
forward with v3; web's prod ran w1; the 30 days before, shop's prod ran v0."""

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
from andon.store import DeployEventKind, Role, Store, open_store
from andon.testing import bearer, user_bearer

SPEC = {"environments": {"test": {}, "staging": {}, "prod": {"protected": True}}}


@dataclass
class Api:
    client: TestClient
    store: Store
    now: datetime

    def get(self, path: str, **params: str) -> Any:
        return self.client.get(path, params=params)

    def ok(self, path: str, **params: str) -> dict[str, Any]:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return dict(response.json())


def deploy(
    store: Store,
    project: str,
    rollout: int,
    version: str,
    start: datetime,
    *,
    minutes: float = 10,
    ending: DeployEventKind = DeployEventKind.FINISHED,
    commits: dict[str, datetime] | None = None,
) -> None:
    carried = commits or {}
    for kind, at in (
        (DeployEventKind.STARTED, start),
        (ending, start + timedelta(minutes=minutes)),
    ):
        store.deploy_events.record(
            project=project, environment="prod", kind=kind, version=version,
            artifact=f"sha256:{version}", commits=list(carried), commit_times=carried,
            rollout_id=rollout, at=at, message="error rate too high" if kind != "finished" else "",
        )  # fmt: skip


def seed(store: Store, now: datetime) -> None:
    for name in ("shop", "web"):
        store.projects.add(
            name=name, source=f"/src/{name}", subdir="", trunk="main", service=name,
            commit="a" * 40, spec=SPEC,
        )  # fmt: skip

    def days(n: float) -> datetime:
        return now - timedelta(days=n)

    deploy(store, "shop", 1, "v0", days(40), commits={"c0": days(41)})
    deploy(store, "shop", 2, "v1", days(20), commits={"c1": days(20) - timedelta(hours=1)})
    deploy(
        store, "shop", 3, "v2", days(10), minutes=6, ending=DeployEventKind.ROLLED_BACK,
        commits={"c2": days(11)},
    )  # fmt: skip
    deploy(store, "shop", 4, "v3", days(9), commits={"c2": days(11), "c3": days(9.5)})
    deploy(store, "web", 5, "w1", days(5))


@pytest.fixture
def api(andon_home: Path) -> Iterator[Api]:
    settings = Settings.from_env()
    now = datetime.now(UTC)
    with open_store(settings.database_url) as store:
        seed(store, now)
        with TestClient(
            create_app(settings, store, controllers=False), headers=bearer(settings, store)
        ) as client:
            yield Api(client, store, now)


def test_a_projects_report_counts_its_prod_deployments_of_the_last_30_days(api: Api) -> None:
    report = api.ok("/api/v1/projects/shop/dora")

    assert (report["project"], report["environment"]) == ("shop", "prod")
    assert report["days"] == pytest.approx(30)
    assert report["deployments"] == {
        "total": 3, "succeeded": 2, "failed": 1, "in_progress": 0, "rework": 1
    }  # fmt: skip
    metrics = report["metrics"]
    assert metrics["deployment_frequency"]["count"] == 3
    assert metrics["deployment_frequency"]["value"] == pytest.approx(0.1)
    assert metrics["deployment_frequency"]["level"] == "medium"
    assert (
        metrics["deployment_frequency"]["previous"],
        metrics["deployment_frequency"]["trend"],
    ) == (
        pytest.approx(1 / 30),
        "better",
    )
    assert metrics["change_fail_rate"]["value"] == pytest.approx(1 / 3)
    assert metrics["failed_deployment_recovery_time"]["median_seconds"] == 360.0
    assert metrics["failed_deployment_recovery_time"]["level"] == "elite"
    # c1 70 minutes, c3 12 hours 10 minutes, c2 (brought by v3) 2 days 10 minutes.
    assert metrics["change_lead_time"]["commits"] == 3
    assert metrics["change_lead_time"]["median_seconds"] == 12 * 3600 + 600
    assert metrics["change_lead_time"]["level"] == "elite"
    assert metrics["deployment_rework_rate"]["value"] == pytest.approx(1 / 3)
    assert [d["version"] for d in report["deployment_list"]] == ["v1", "v2", "v3"]
    assert report["deployment_list"][1]["why"] == "rolled back: error rate too high"


def test_every_projects_report_counts_their_deployments_together(api: Api) -> None:
    report = api.ok("/api/v1/dora")

    assert report["project"] is None
    assert report["deployments"]["total"] == 4
    assert [d["project"] for d in report["deployment_list"]] == ["shop", "shop", "shop", "web"]


def test_the_window_is_a_duration_back_or_a_time_and_the_environment_any_of_the_projects(
    api: Api,
) -> None:
    week = api.ok("/api/v1/projects/shop/dora", since="7d")
    assert week["deployments"]["total"] == 0
    assert week["metrics"]["change_fail_rate"]["previous"] == pytest.approx(0.5)
    since = (api.now - timedelta(days=15)).isoformat().replace("+00:00", "Z")
    assert api.ok("/api/v1/projects/shop/dora", since=since)["deployments"]["total"] == 2
    staging = api.ok("/api/v1/projects/shop/dora", environment="staging")
    assert staging["metrics"]["deployment_frequency"]["value"] is None


@pytest.mark.parametrize(
    ("path", "params", "status", "said"),
    [
        ("/api/v1/projects/shop/dora", {"since": "soon"}, 400, "since: 'soon' is neither"),
        ("/api/v1/dora", {"since": "2999-01-01T00:00:00Z"}, 400, "since: 2999-01-01"),
        ("/api/v1/projects/nope/dora", {}, 404, "no project named 'nope'"),
        (
            "/api/v1/projects/shop/dora",
            {"environment": "production"},
            404,
            "project shop has no environment production; its environments are prod, staging, "
            "test: give one of them.",
        ),
    ],
)
def test_a_wrong_request_is_refused_in_one_sentence(
    api: Api, path: str, params: dict[str, str], status: int, said: str
) -> None:
    response = api.get(path, **params)

    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert message.startswith(said) and "\n" not in message


def test_a_viewer_of_one_project_reads_its_report_but_not_every_projects(api: Api) -> None:
    viewer = user_bearer(api.store, "vic", Role.VIEWER, "shop")

    assert api.client.get("/api/v1/projects/shop/dora", headers=viewer).status_code == 200
    assert api.client.get("/api/v1/dora", headers=viewer).status_code == 403
    assert api.client.get("/api/v1/projects/web/dora", headers=viewer).status_code == 403


def test_metrics_are_prometheus_gauges_per_project_and_environment(api: Api) -> None:
    response = api.client.get("/metrics")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = response.text.splitlines()
    shop = 'project="shop",environment="prod"'
    assert "# TYPE andon_dora_deployment_frequency_per_day gauge" in lines
    assert f"andon_dora_deployments{{{shop}}} 3.0" in lines
    assert f"andon_dora_deployment_frequency_per_day{{{shop}}} 0.1" in lines
    assert f'andon_dora_change_lead_time_seconds{{{shop},quantile="0.5"}} 43800.0' in lines
    assert (
        f'andon_dora_failed_deployment_recovery_time_seconds{{{shop},quantile="0.9"}} 360.0'
        in lines
    )
    assert f'andon_dora_level{{{shop},metric="change_fail_rate",level="low"}} 1.0' in lines
    assert f'andon_dora_level{{{shop},metric="change_fail_rate",level="elite"}} 0.0' in lines
    assert 'andon_dora_deployments{project="web",environment="prod"} 1.0' in lines
    # web never failed: it has no recovery time, and no made-up sample of one.
    assert not any(
        line.startswith('andon_dora_failed_deployment_recovery_time_seconds{project="web"')
        for line in lines
    )
    helps = [line for line in lines if line.startswith("# HELP")]
    assert len(helps) == 7


def test_metrics_need_a_token(api: Api) -> None:
    response = api.client.get("/metrics", headers={"Authorization": ""})

    assert response.status_code == 401
