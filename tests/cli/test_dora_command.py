"""``andon dora``: the real command against a real server — a row per metric with its
value in people's units, level and trend, then the deployments counted; the API's JSON
with ``--json``; every project's deployments when no one project is named; a window
given wrongly refused in one line — and how the table reads for a made-up report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from andon.cli import _output, dora
from andon.cli.dora import DASH, _the_only_project, show_report, span
from andon.server import create_app
from andon.settings import Settings
from andon.store import DeployEventKind, Store, open_store
from andon.testing import home_bearer, serve
from andon.testing.commands import andon, refusal, stdout_of


def deploy(
    store: Store, project: str, rollout: int, version: str, hours_ago: float, ending: str
) -> None:
    now = datetime.now(UTC)
    start = now - timedelta(hours=hours_ago)
    commit = f"{version}-commit"
    for kind, at in ((DeployEventKind.STARTED, start), (ending, start + timedelta(minutes=5))):
        store.deploy_events.record(
            project=project, environment="prod", kind=DeployEventKind(kind), version=version,
            artifact=f"sha256:{version}", commits=[commit], rollout_id=rollout, at=at,
            commit_times={commit: start - timedelta(minutes=15)}, message="error rate too high",
        )  # fmt: skip


@pytest.fixture
def url(andon_home: Path, port: int) -> Iterator[str]:
    """A server whose project ``shop`` shipped v1, rolled v2 back and shipped v3 in the last
    day, and whose project ``web`` shipped w1."""
    settings = Settings.from_env()
    with open_store(settings.database_url) as store:
        for name in ("shop", "web"):
            store.projects.add(
                name=name, source=f"/src/{name}", subdir="", trunk="main", service=name,
                commit="a" * 40, spec={"environments": {"prod": {}}},
            )  # fmt: skip
        deploy(store, "shop", 1, "v1", 20, "finished")
        deploy(store, "shop", 2, "v2", 10, "rolled_back")
        deploy(store, "shop", 3, "v3", 5, "finished")
        deploy(store, "web", 4, "w1", 3, "finished")
        with serve(create_app(settings, store, controllers=False), port) as served:
            yield served


def test_dora_shows_each_metric_then_the_deployments_counted(url: str) -> None:
    shown = stdout_of(andon("dora", "--project", "shop", "--since", "1d", "--url", url))

    lines = shown.splitlines()
    assert lines[0].startswith("DORA metrics of shop's prod from ")
    assert lines[0].endswith("UTC (1.0 days)")
    assert lines[1].split() == ["METRIC", "VALUE", "LEVEL", "TREND"]
    rows = {line[:33].strip(): line[33:].split() for line in lines[2:7]}
    # Nothing was deployed before the day: no trend to tell.
    assert rows["Deployment frequency"] == [
        "3.0", "per", "day", "(3", "deployments)", "elite", DASH, "no", "data"
    ]  # fmt: skip
    assert rows["Change lead time"] == [
        "20m", "median,", "20m", "p90", "(2", "commits)", "elite", DASH, "no", "data"
    ]  # fmt: skip
    assert rows["Change fail rate"][:4] == ["33%", "(1", "of", "3)"]
    assert rows["Failed deployment recovery time"][:5] == ["5m", "median,", "5m", "p90", "(1"]
    assert rows["Deployment rework rate"][:5] == ["33%", "(1", "of", "3)", DASH]
    assert lines[8] == ("Deployments counted: 3 (2 succeeded, 1 failed, 0 in progress, 1 rework)")
    assert lines[9].split() == [
        "STARTED",
        "VERSION",
        "OUTCOME",
        "WHY",
        "REWORK",
        "RESTORED",
        "AFTER",
    ]
    assert lines[11].split()[2:] == [
        "v2", "failed", "rolled", "back:", "error", "rate", "too", "high", "5m"
    ]  # fmt: skip
    assert lines[12].split()[2:] == ["v3", "succeeded", "finished", "rework"]


def test_dora_json_is_the_apis(url: str) -> None:
    shown = json.loads(stdout_of(andon("dora", "-p", "shop", "--json", "--url", url)))

    api = httpx.get(f"{url}/api/v1/projects/shop/dora", headers=home_bearer()).json()
    assert shown.keys() == api.keys()
    assert shown["deployments"] == api["deployments"]
    assert shown["metrics"]["change_fail_rate"] == api["metrics"]["change_fail_rate"]


def test_dora_of_several_projects_counts_every_projects_deployments(url: str) -> None:
    shown = json.loads(stdout_of(andon("dora", "--json", "--env", "prod", "--url", url)))

    assert shown["project"] is None
    assert shown["deployments"]["total"] == 4


def test_a_window_given_wrongly_is_refused_in_one_line(url: str) -> None:
    said = refusal(andon("dora", "-p", "shop", "--since", "soon", "--url", url), code=2)

    assert said.startswith("error: since: 'soon' is neither a duration nor a time; give")


def test_without_a_project_the_only_one_is_meant_else_every_one() -> None:
    assert _the_only_project([{"name": "shop"}]) == "shop"
    assert _the_only_project([{"name": "shop"}, {"name": "web"}]) is None
    assert _the_only_project([]) is None


REPORT: dict[str, Any] = {
    "project": None,
    "environment": "prod",
    "since": "2026-02-01T00:00:00Z",
    "until": "2026-03-03T00:00:00Z",
    "days": 30.0,
    "deployments": {"total": 2, "succeeded": 1, "failed": 0, "in_progress": 1, "rework": 0},
    "metrics": {
        "deployment_frequency": {
            "value": 2 / 30, "count": 2, "level": "high", "previous": 2 / 30, "trend": "same",
        },
        "change_lead_time": {
            "median_seconds": 252.0, "p90_seconds": 540.0, "commits": 1, "level": "elite",
            "previous": 90000.0, "trend": "better",
        },
        "change_fail_rate": {
            "value": 0.0, "failed": 0, "deployments": 1, "level": "elite", "previous": 0.25,
            "trend": "better",
        },
        "failed_deployment_recovery_time": {
            "median_seconds": None, "p90_seconds": None, "recoveries": 0, "level": None,
            "previous": None, "trend": None,
        },
        "deployment_rework_rate": {
            "value": 0.0, "rework": 0, "deployments": 1, "level": None, "previous": None,
            "trend": None,
        },
    },
    "deployment_list": [
        {
            "rollout_id": 8, "project": "shop", "environment": "prod",
            "version": "0123456789abcdef", "started_at": "2026-03-01T10:00:00Z",
            "ended_at": "2026-03-01T10:04:00Z", "outcome": "succeeded", "why": "finished",
            "rework": False, "restored_at": None, "recovery_seconds": None, "commits": [],
        },
        {
            "rollout_id": 3, "project": "web", "environment": "prod", "version": "w2",
            "started_at": "2026-03-02T11:00:00Z", "ended_at": None, "outcome": "in_progress",
            "why": "in progress", "rework": False, "restored_at": None,
            "recovery_seconds": None, "commits": [],
        },
    ],
}  # fmt: skip


def test_the_table_reads_in_peoples_units_with_a_dash_for_no_data(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wide = Console(width=200, soft_wrap=True, highlight=False)  # no wrapping
    monkeypatch.setattr(_output, "console", wide)
    monkeypatch.setattr(dora, "console", wide)

    show_report(REPORT)

    lines = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == (
        "DORA metrics of every project's prod from 2026-02-01 00:00 to 2026-03-03 00:00 UTC "
        "(30.0 days)"
    )
    assert [line.split("  ")[0] for line in lines[2:7]] == [
        "Deployment frequency",
        "Change lead time",
        "Change fail rate",
        "Failed deployment recovery time",
        "Deployment rework rate",
    ]
    assert "2.0 per month (2 deployments)     high" in lines[2]
    assert lines[2].endswith("= same (was 2.0 per month)")
    assert "4m 12s median, 9m p90 (1 commit)" in lines[3]
    assert lines[3].endswith("↑ better (was 1d 1h)")
    assert "0% (0 of 1)" in lines[4] and lines[4].endswith("↑ better (was 25%)")
    assert lines[5].split()[-7:] == [DASH, "no", "data", DASH, DASH, "no", "data"]
    assert lines[6].split()[-8:] == ["0%", "(0", "of", "1)", DASH, DASH, "no", "data"]
    assert lines[8] == "Deployments counted: 2 (1 succeeded, 0 failed, 1 in progress, 0 rework)"
    assert lines[9].split()[:3] == ["PROJECT", "STARTED", "VERSION"]
    assert lines[10].split() == [
        "shop",
        "2026-03-01",
        "10:00",
        "0123456789ab",
        "succeeded",
        "finished",
    ]
    assert lines[11].split() == [
        "web",
        "2026-03-02",
        "11:00",
        "w2",
        "in",
        "progress",
        "in",
        "progress",
    ]


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(None, DASH), (45.2, "45s"), (252, "4m 12s"), (540, "9m"), (7500, "2h 5m"), (90000, "1d 1h")],
)
def test_durations_read_in_two_units_at_most(seconds: float | None, said: str) -> None:
    assert span(seconds) == said
