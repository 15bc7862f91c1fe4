"""``andon flow``: the real command against a real server — a table of the stages with
their process and wait time and an efficiency bar, the lead time and the line in words,
the API's JSON with ``--json``, and a window given wrongly refused in one line — and how
the table and sentences read for a made-up report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from andon.cli.flow import efficiency_bar, show
from andon.server import create_app
from andon.settings import Settings
from andon.store import DeployEventKind, LineState, PipelineStatus, open_store
from andon.testing import home_bearer, serve
from andon.testing.commands import andon, refusal, stdout_of


@pytest.fixture
def url(andon_home: Path, port: int) -> Iterator[str]:
    """A server whose project ``shop`` (test, prod) built commit ``a`` an hour ago and
    deployed it to prod (waiting a second, working a second), its line stopped once by
    hand for ten minutes since."""
    settings = Settings.from_env()
    now = datetime.now(UTC)
    # The store stamps what it creates an hour ago: the pipeline ran then.
    with open_store(settings.database_url, clock=lambda: now - timedelta(hours=1)) as store:
        store.projects.add(
            name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
            commit="a" * 40, spec={"environments": {"test": {}, "prod": {}}},
        )  # fmt: skip
        pipeline = store.pipelines.create(
            project="shop", commit="a" * 40, branch="main", trigger="poll", on_trunk=True
        )
        created = pipeline.created_at
        store.pipelines.update(
            pipeline.id,
            status=PipelineStatus.SUCCESS,
            started_at=created,
            finished_at=created,
            artifact="sha256:" + "a" * 64,
        )
        for kind, at in ((DeployEventKind.STARTED, 1), (DeployEventKind.FINISHED, 2)):
            store.deploy_events.record(
                project="shop", environment="prod", kind=kind, version="a" * 40,
                artifact="sha256:" + "a" * 64, commits=["a" * 40],
                at=created + timedelta(seconds=at),
            )  # fmt: skip
        for state, minutes in ((LineState.STOPPED, 50), (LineState.RUNNING, 40)):
            store.line.append(
                project="shop", state=state, cause="manual", reason="flaky e2e", actor="ann",
                at=now - timedelta(minutes=minutes),
            )  # fmt: skip
        with serve(create_app(settings, store, controllers=False), port) as served:
            yield served


def test_flow_shows_each_stage_the_lead_time_and_the_line(url: str) -> None:
    shown = stdout_of(andon("flow", "--project", "shop", "--since", "1d", "--url", url))
    lines = shown.splitlines()
    assert lines[0].startswith("Flow of shop from ") and lines[0].endswith("UTC (1.0 days)")
    assert lines[1].split() == ["STAGE", "DONE", "NOW", "PROCESS", "WAIT", "FLOW", "EFFICIENCY"]
    assert [line.split()[0] for line in lines[2:7]] == [
        "pipeline", "artifact", "test", "prod", "release"
    ]  # fmt: skip
    prod = lines[5].split()
    assert prod[:5] == ["prod", "1", "0", "1.0s", "1.0s"]
    assert prod[-1] == "50%"
    assert lines[7].startswith("Commit to prod: 1 commit, median lead time ")
    assert lines[8].startswith("The line stopped once, for 10m00s in all (0.7% of the window)")
    assert lines[8].endswith("(manual): flaky e2e.")


def test_flow_json_is_the_apis(url: str) -> None:
    shown = json.loads(stdout_of(andon("flow", "-p", "shop", "--json", "--url", url)))
    api = httpx.get(f"{url}/api/v1/projects/shop/flow", headers=home_bearer()).json()
    assert shown.keys() == api.keys()
    assert shown["stages"] == api["stages"]
    assert shown["days"] == pytest.approx(30)


def test_a_window_given_wrongly_is_refused_in_one_line(url: str) -> None:
    said = refusal(andon("flow", "-p", "shop", "--since", "soon", "--url", url), code=2)
    assert said.startswith("error: since: 'soon' is neither a duration nor a time; give")


REPORT: dict[str, Any] = {
    "project": "shop",
    "since": "2026-02-01T00:00:00Z",
    "until": "2026-03-03T00:00:00Z",
    "days": 30.0,
    "stages": [
        {
            "name": "pipeline", "items": 9, "failed": 2, "in_progress": 1,
            "process_seconds": 600.0, "wait_seconds": 200.0, "efficiency": 0.75,
        },
        {
            "name": "prod", "items": 0, "failed": 0, "in_progress": 0,
            "process_seconds": 0.0, "wait_seconds": 0.0, "efficiency": None,
        },
    ],
    "lead_time": {
        "to": "prod", "commits": 0, "process_seconds": 0.0, "wait_seconds": 0.0,
        "median_seconds": None, "efficiency": None,
    },
    "line": {
        "stops": 2, "stopped_seconds": 5400.0, "stopped_share": 0.002, "stopped_now": True,
        "longest": {
            "started_at": "2026-03-02T22:00:00Z", "ended_at": None, "seconds": 7200.0,
            "cause": "pipeline", "reason": "trunk is red: unit failed.", "actor": "andon",
        },
    },
}  # fmt: skip


def test_the_table_counts_failures_and_leaves_untimed_stages_blank(
    capsys: pytest.CaptureFixture[str],
) -> None:
    show(REPORT)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Flow of shop from 2026-02-01 00:00 to 2026-03-03 00:00 UTC (30.0 days)"
    assert lines[2].split() == [
        "pipeline", "9", "(2", "failed)", "1", "10m00s", "3m20s", "███████████████░░░░░", "75%"
    ]  # fmt: skip
    assert lines[3].split() == ["prod", "0", "0", "-", "-", "-"]
    assert lines[4] == "No commit reached prod in this window."
    assert lines[5] == (
        "The line stopped 2 times, for 1h30m in all (0.2% of the window); the longest stop, "
        "2h00m from 2026-03-02 22:00 UTC (pipeline): trunk is red: unit failed. "
        "It is stopped now."
    )


def test_an_efficiency_bar_fills_its_share() -> None:
    assert efficiency_bar(None) == "-"
    assert efficiency_bar(0.0) == "░" * 20 + "   0%"
    assert efficiency_bar(1.0) == "█" * 20 + " 100%"
