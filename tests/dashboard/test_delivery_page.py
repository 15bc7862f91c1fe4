"""The Delivery page in process, signed in with a token, over a real SQLite store: DORA's
five metrics worded with their level and trend (from a made-up report, so that every
word shows), the deployments counted, the flow of one commit's stages as bars and a
table, the line's stops; the window chosen with a plain form; a window given wrongly
said on the page; the page's landmarks, labels and captions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from andon.server import create_app
from andon.server.dashboard import delivery
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
from andon.testing import FakeClock, admin_token
from andon.testing.access import user_bearer

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site:
    app: Any
    store: Store
    admin: str

    def signed_in(self, token: str | None = None) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)
        form = client.get("/signin").text
        csrf = CSRF.search(form)
        assert csrf is not None
        answer = client.post(
            "/signin", data={"csrf": csrf.group(1), "token": token or self.admin, "next": "/"}
        )
        assert answer.status_code == 303, answer.text
        return client


def seed(store: Store, clock: FakeClock, start: datetime) -> None:
    """Project ``shop`` (test, prod): commit ``a`` two hours before ``start`` — tested
    8 min after 2 queued, packaged in 2, straight to prod 30 min later, 10 min there —
    and a stop of the line of 15 min an hour before ``start``."""

    def minutes(n: float) -> datetime:
        return start - timedelta(hours=2) + timedelta(minutes=n)

    store.projects.add(
        name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
        commit="a" * 40, spec={"environments": {"test": {}, "prod": {}}},
    )  # fmt: skip
    clock.at = minutes(0)
    pipeline = store.pipelines.create(
        project="shop", commit="a" * 40, branch="main", trigger="poll", on_trunk=True
    )
    jobs = store.jobs.create_many(
        pipeline.id, [NewJob("unit", "unit", "test"), NewJob("package", "package", "package")]
    )
    for job, began, ended in zip(jobs, (2, 10), (10, 12), strict=True):
        store.jobs.update(
            job.id, status=JobStatus.SUCCESS, started_at=minutes(began), finished_at=minutes(ended)
        )
    store.pipelines.update(
        pipeline.id,
        status=PipelineStatus.SUCCESS,
        started_at=minutes(2),
        finished_at=minutes(12),
        artifact="sha256:" + "a" * 64,
    )
    for kind, when in ((DeployEventKind.STARTED, 42), (DeployEventKind.FINISHED, 52)):
        store.deploy_events.record(
            project="shop", environment="prod", kind=kind, version="a" * 40,
            artifact="sha256:" + "a" * 64, commits=["a" * 40], at=minutes(when),
        )  # fmt: skip
    for state, when in ((LineState.STOPPED, 75), (LineState.RUNNING, 60)):
        store.line.append(
            project="shop", state=state, cause="manual", reason="flaky e2e", actor="ann",
            at=start - timedelta(minutes=when),
        )  # fmt: skip
    clock.at = start


@pytest.fixture
def site(andon_home: Path) -> Iterator[Site]:
    settings = Settings.from_env()
    start = datetime.now(UTC)
    clock = FakeClock(start)
    with open_store(settings.database_url, clock=clock) as store:
        seed(store, clock, start)
        app = create_app(settings, store, controllers=False)
        with TestClient(app):
            yield Site(app, store, admin_token(settings, store))


def report(**metrics: Any) -> dict[str, Any]:
    """A DORA report of prod as ``dora_report`` gives it, with figures in every metric."""
    return {
        "project": "shop",
        "environment": "prod",
        "since": "2026-02-01T00:00:00Z",
        "until": "2026-03-03T00:00:00Z",
        "days": 30.0,
        "deployments": {"total": 12, "succeeded": 10, "failed": 2, "in_progress": 0, "rework": 1},
        "metrics": {
            "deployment_frequency": {
                "value": 0.4, "count": 12, "level": "high", "previous": 0.2, "trend": "better",
            },
            "change_lead_time": {
                "median_seconds": 5400.0, "p90_seconds": 86_400.0, "commits": 20,
                "level": "elite", "previous": 3600.0, "trend": "worse",
            },
            "change_fail_rate": {
                "value": 2 / 12, "failed": 2, "deployments": 12, "level": "medium",
                "previous": 2 / 12, "trend": "same",
            },
            "failed_deployment_recovery_time": {
                "median_seconds": 600.0, "p90_seconds": 900.0, "recoveries": 2,
                "level": "low", "previous": None, "trend": None,
            },
            "deployment_rework_rate": {
                "value": 1 / 12, "rework": 1, "deployments": 12, "level": None,
                "previous": None, "trend": None,
            },
            **metrics,
        },
        "deployment_list": [
            {
                "rollout_id": 7, "project": "shop", "version": "b" * 40,
                "started_at": "2026-03-01T10:00:00Z", "ended_at": "2026-03-01T10:05:00Z",
                "outcome": "failed", "why": "rolled back", "rework": False,
                "restored_at": "2026-03-01T10:15:00Z", "recovery_seconds": 600.0,
                "commits": [{"sha": "b" * 40, "committed_at": None, "lead_time_seconds": None}],
            }
        ],
    }  # fmt: skip


def metric_row(html: str, key: str) -> str:
    found = re.search(rf'<tr data-metric="{key}".*?</tr>', html, re.S)
    assert found is not None, key
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(0))).strip()


def words(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_each_dora_metric_shows_its_value_level_and_trend(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[dict[str, Any]] = []

    def fake(store: Store, **given: Any) -> dict[str, Any]:
        asked.append(given)
        return report()

    monkeypatch.setattr(delivery, "dora_report", fake)
    html = site.signed_in().get("/delivery").text
    # Of the last environment of the stream, over the page's window.
    (given,) = asked
    assert (given["project"], given["environment"]) == ("shop", "prod")
    assert given["now"] - given["since"] == timedelta(days=30)
    assert metric_row(html, "deployment_frequency") == (
        "Deployment frequency 2.8 a week 12 deployments high ▲ better than 1.4 a week before"
    )
    assert metric_row(html, "change_lead_time") == (
        "Change lead time 1h 30m median of 20 commits; p90 24h 00m elite ▼ worse than 1h 00m before"
    )
    assert metric_row(html, "change_fail_rate") == (
        "Change fail rate 16.7% 2 of 12 deployments medium = the same as 16.7% before"
    )
    assert metric_row(html, "failed_deployment_recovery_time") == (
        "Failed deployment recovery time 10m 00s median of 2 recoveries; p90 15m 00s low —"
    )
    assert metric_row(html, "deployment_rework_rate") == (
        "Deployment rework rate 8.3% 1 of 12 deployments — —"
    )
    assert '<span class="level level-elite">elite</span>' in html
    counted = words(html.split("<details", 1)[1].split("</details>", 1)[0])
    assert "12 deployments counted: 10 succeeded, 2 failed, 0 in progress; 1 rework" in counted
    assert "#7 bbbbbbbbbbbb" in counted and "failed rolled back" in counted
    assert "10m 00s" in counted  # restored in


def test_the_flow_shows_each_stages_process_and_wait_and_the_lines_stops(site: Site) -> None:
    html = site.signed_in().get("/delivery?since=1d").text
    chart = re.search(r'<svg [^>]*role="img".*?</svg>', html, re.S)
    assert chart is not None
    assert (
        "<title>time per stage: pipeline process 8m 00s, wait 2m 00s; "
        "artifact process 2m 00s, wait 0.0s; test process 0.0s, wait 0.0s; "
        "prod process 10m 00s, wait 30m 00s; release process 0.0s, wait 0.0s</title>"
    ) in chart.group(0)
    assert chart.group(0).count('class="bar bar-working"') == 5
    rows = {
        stage: words(row)
        for stage, row in re.findall(r'<tr data-stage="(\w+)">(.*?)</tr>', html, re.S)
    }
    assert rows["pipeline"].split() == [
        "pipeline", "1", "0", "8m", "00s", "2m", "00s", "8m", "00s", "2m", "00s", "80.0%"
    ]  # fmt: skip
    assert rows["test"].split() == ["test", "0", "0", "—", "—", "—", "—", "—"]
    text = words(html)
    assert (
        "Commit to prod: 1 commit, median lead time 52m 00s; in all, 20m 00s in process and "
        "32m 00s waiting (38.5% flow efficiency)."
    ) in text
    assert "The line stopped once , for 15m 00s in all (1.0% of the window)" in text
    assert "(manual): flaky e2e." in text
    assert "stopped now" not in text


def test_the_window_is_chosen_with_a_plain_form_and_a_wrong_one_is_said(site: Site) -> None:
    client = site.signed_in()
    html = client.get("/delivery").text
    assert '<label for="delivery-since">Over the last</label>' in html
    assert '<option value="30d" selected>30 days</option>' in html
    assert '<a href="/delivery" aria-current="page">Delivery</a>' in html
    # A window the API reads but the page does not offer is kept as chosen.
    assert '<option value="14d" selected>14d</option>' in client.get("/delivery?since=14d").text
    # Nothing of the commit ended in the last ten minutes.
    assert 'data-lead-time="0"' in client.get("/delivery?since=10m").text
    wrong = client.get("/delivery?since=soon")
    assert wrong.status_code == 400
    assert "since: &#39;soon&#39; is neither a duration nor a time" in wrong.text


def test_a_viewer_sees_only_the_projects_they_may_see(site: Site) -> None:
    headers = user_bearer(site.store, "vic", Role.VIEWER, "billing")
    token = headers["Authorization"].removeprefix("Bearer ")
    html = site.signed_in(token).get("/delivery").text
    assert 'data-project="shop"' not in html
    assert "No project is registered yet (or none you may see)" in html


def test_the_page_has_its_landmarks_labels_and_captions(site: Site) -> None:
    html = site.signed_in().get("/delivery").text
    assert html.count("<h1>") == 1 and '<main id="main"' in html
    assert '<section aria-labelledby="delivery-shop"' in html
    assert '<h2 id="delivery-shop">shop</h2>' in html
    # Metrics, deployments, flow: each table says in its caption what it holds.
    assert len(re.findall(r"<table>\s*<caption>", html)) == html.count("<table") == 3
    for svg in re.findall(r"<svg [^>]*>", html):
        assert 'role="img"' in svg
    assert html.count("<title>") == 1 + html.count("<svg ")  # the page's, each chart's
    assert 'style="' not in html  # the Content-Security-Policy allows no inline style


def test_without_a_session_the_page_sends_to_sign_in(site: Site) -> None:
    answer = TestClient(site.app, follow_redirects=False).get("/delivery")
    assert (answer.status_code, answer.headers["location"]) == (303, "/signin?next=/delivery")
