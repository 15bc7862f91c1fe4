"""The DORA report of recorded deploy events matches a count by hand.

Each ``data/*.json`` file holds rows of the ``deploy_events`` table as a run recorded them
(``demo_events.json`` is what a run of ``andon demo`` recorded, taken from its database;
``story_events.json`` is written by hand, with undos, aborts and retries the demo does not
play).
They are written into a real SQLite store and the report is asked of ``dora_report``, as
``andon dora --json`` asks the API; then the same numbers are counted again from the raw
rows by the plain code below, which reads the definitions of ``docs/dora.md`` afresh and
imports nothing of the engine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from andon.server.dora_reports import dora_report
from andon.store import Store, metadata, open_store

DATA = sorted((Path(__file__).parent / "data").glob("*.json"))
WINDOW = timedelta(days=30)
ENDINGS = {"finished", "rolled_back", "aborted", "failed"}


def load(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text("utf-8")))


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'andon.db'}") as opened:
        yield opened


def write_rows(store: Store, rows: list[dict[str, Any]]) -> None:
    for project in sorted({row["project"] for row in rows}):
        store.projects.add(
            name=project, source=f"/src/{project}", subdir="", trunk="main", service=project,
            commit="0" * 40, spec={},
        )  # fmt: skip
    with store.engine.begin() as connection:
        for row in rows:
            values = dict(row)
            values["at"] = when(row["at"])
            connection.execute(insert(metadata.tables["deploy_events"]).values(**values))


# -- the count by hand ----------------------------------------------------------------------


def count_by_hand(rows: list[dict[str, Any]], project: str, since: datetime) -> dict[str, Any]:
    """The numbers, counted from the rows of ``project``'s prod as docs/dora.md says."""
    mine = [r for r in rows if r["project"] == project and r["environment"] == "prod"]
    mine.sort(key=lambda r: (when(r["at"]), r.get("id", 0)))

    # Every started event begins a deployment; the first ending of its rollout after it ends it.
    deployments: list[dict[str, Any]] = []
    for row in mine:
        if row["kind"] == "started":
            deployments.append({"start": row, "end": None})
        elif row["kind"] in ENDINGS:
            for deployment in reversed(deployments):
                if deployment["start"]["rollout_id"] == row["rollout_id"]:
                    if deployment["end"] is None:
                        deployment["end"] = row
                    break

    # An undo carries no commits and goes to another version than the last one to finish.
    last_finished = None
    for deployment in deployments:
        start, end = deployment["start"], deployment["end"]
        deployment["undo"] = (
            start["commits"] == [] and last_finished is not None
            and start["version"] != last_finished
        )  # fmt: skip
        if end is not None and end["kind"] == "finished":
            last_finished = start["version"]

    for i, deployment in enumerate(deployments):
        end = deployment["end"]
        deployment["restored"] = None
        if end is None:
            deployment["outcome"] = "in_progress"
        elif end["kind"] != "finished":
            deployment["outcome"] = "failed"
            deployment["restored"] = when(end["at"])
        elif i + 1 < len(deployments) and deployments[i + 1]["undo"]:
            deployment["outcome"] = "failed"
            for later in deployments[i + 1 :]:
                if later["end"] is not None and later["end"]["kind"] == "finished":
                    deployment["restored"] = when(later["end"]["at"])
                    break
        else:
            deployment["outcome"] = "succeeded"
    for i, deployment in enumerate(deployments):
        before_failed = i > 0 and deployments[i - 1]["outcome"] == "failed"
        deployment["rework"] = deployment["undo"] or before_failed

    # Lead times: each commit once, at the first succeeded deployment carrying it.
    seen: set[str] = set()
    for deployment in deployments:
        deployment["leads"] = []
        if deployment["outcome"] != "succeeded":
            continue
        finished = when(deployment["end"]["at"])
        for sha in deployment["start"]["commits"]:
            if sha in seen:
                continue
            seen.add(sha)
            times = {
                **deployment["start"].get("commit_times", {}),
                **deployment["end"].get("commit_times", {}),
            }
            if sha in times:
                deployment["leads"].append((finished - when(times[sha])).total_seconds())

    counted = [d for d in deployments if when(d["start"]["at"]) >= since]
    succeeded = [d for d in counted if d["outcome"] == "succeeded"]
    failed = [d for d in counted if d["outcome"] == "failed"]
    ended = len(succeeded) + len(failed)
    leads = [lead for d in succeeded for lead in d["leads"]]
    recoveries = [
        (d["restored"] - when(d["start"]["at"])).total_seconds()
        for d in failed
        if d["restored"] is not None
    ]
    return {
        "total": len(counted),
        "succeeded": len(succeeded),
        "failed": len(failed),
        "rework": len([d for d in counted if d["rework"] and d["outcome"] != "in_progress"]),
        "per_day": len(counted) / 30,
        "fail_rate": len(failed) / ended if ended else None,
        "rework_rate": (
            len([d for d in counted if d["rework"] and d["outcome"] != "in_progress"]) / ended
            if ended
            else None
        ),
        "lead_median": percentile(leads, 0.5),
        "lead_p90": percentile(leads, 0.9),
        "leads": len(leads),
        "recovery_median": percentile(recoveries, 0.5),
        "recovery_p90": percentile(recoveries, 0.9),
        "recoveries": len(recoveries),
        "versions": [d["start"]["version"] for d in counted],
    }


def percentile(values: list[float], q: float) -> float | None:
    """Linear between the nearest ranks: position (n - 1) * q of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    below = ordered[math.floor(position)]
    above = ordered[math.ceil(position)]
    return below + (above - below) * (position - math.floor(position))


# -- the test --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DATA, ids=[path.stem for path in DATA])
def test_the_report_of_recorded_events_matches_a_count_by_hand(store: Store, path: Path) -> None:
    rows = load(path)
    write_rows(store, rows)
    now = max(when(row["at"]) for row in rows) + timedelta(minutes=1)
    since = now - WINDOW

    for project in sorted({row["project"] for row in rows}):
        report = dora_report(store, project=project, environment="prod", since=since, now=now)
        hand = count_by_hand(rows, project, since)

        metrics = report["metrics"]
        assert report["deployments"]["total"] == hand["total"]
        assert report["deployments"]["succeeded"] == hand["succeeded"]
        assert report["deployments"]["failed"] == hand["failed"]
        assert metrics["deployment_frequency"]["count"] == hand["total"]
        assert metrics["deployment_frequency"]["value"] == pytest.approx(hand["per_day"])
        assert metrics["change_fail_rate"]["value"] == pytest.approx(hand["fail_rate"])
        assert metrics["change_fail_rate"]["failed"] == hand["failed"]
        assert metrics["deployment_rework_rate"]["rework"] == hand["rework"]
        assert metrics["deployment_rework_rate"]["value"] == pytest.approx(hand["rework_rate"])
        lead = metrics["change_lead_time"]
        assert lead["commits"] == hand["leads"]
        assert lead["median_seconds"] == pytest.approx(hand["lead_median"])
        assert lead["p90_seconds"] == pytest.approx(hand["lead_p90"])
        recovery = metrics["failed_deployment_recovery_time"]
        assert recovery["recoveries"] == hand["recoveries"]
        assert recovery["median_seconds"] == pytest.approx(hand["recovery_median"])
        assert recovery["p90_seconds"] == pytest.approx(hand["recovery_p90"])
        assert [d["version"] for d in report["deployment_list"]] == hand["versions"]


def test_the_story_is_counted_as_it_reads(store: Store) -> None:
    """The hand-written story, counted once more by a person: seven prod deployments —
    v1 ships; v2 is rolled back by the analysis; v3 fixes forward; v4 ships and is undone
    back to v3; v5 is aborted, then retried and ships."""
    rows = load(Path(__file__).parent / "data" / "story_events.json")
    write_rows(store, rows)
    now = when("2026-03-12T14:30:00Z")

    report = dora_report(store, project="shop", environment="prod", since=now - WINDOW, now=now)

    assert report["deployments"] == {
        "total": 7, "succeeded": 4, "failed": 3, "in_progress": 0, "rework": 3
    }  # fmt: skip
    assert [(d["outcome"], d["rework"]) for d in report["deployment_list"]] == [
        ("succeeded", False),
        ("failed", False),  # v2: rolled back after 70 s
        ("succeeded", True),  # v3
        ("failed", False),  # v4: undone; v3 ran again 170 s after v4 started
        ("succeeded", True),  # the undo
        ("failed", False),  # v5 aborted after 45 s
        ("succeeded", True),  # v5 retried
    ]
    recovery = report["metrics"]["failed_deployment_recovery_time"]
    assert (recovery["median_seconds"], recovery["p90_seconds"]) == (70.0, 150.0)
    # 1095, 1035 (v1); 900, 880, 300, 280 (v3 with v2's commits); 570, 270 (v5 with v4's).
    lead = report["metrics"]["change_lead_time"]
    assert (lead["commits"], lead["median_seconds"]) == (8, 725.0)


def test_a_demo_run_is_counted_as_it_reads(store: Store) -> None:
    """The deploy events ``andon demo`` recorded, counted once more by a person: three
    prod deployments — the first release (blue-green) ships; the defect's canary is rolled
    back by the immune system 8.5 s after it started; the fix, carrying the defect's commit
    and its own, ships and is rework."""
    rows = load(Path(__file__).parent / "data" / "demo_events.json")
    write_rows(store, rows)
    now = when("2026-12-01T10:34:00Z")

    report = dora_report(store, project="shop", environment="prod", since=now - WINDOW, now=now)

    assert report["deployments"] == {
        "total": 3, "succeeded": 2, "failed": 1, "in_progress": 0, "rework": 1
    }  # fmt: skip
    assert [(d["outcome"], d["rework"]) for d in report["deployment_list"]] == [
        ("succeeded", False),
        ("failed", False),
        ("succeeded", True),
    ]
    metrics = report["metrics"]
    assert metrics["change_fail_rate"]["value"] == pytest.approx(1 / 3)
    assert metrics["deployment_rework_rate"]["value"] == pytest.approx(1 / 3)
    # 10:33:16.482962 (rolled back) - 10:33:07.981105 (started).
    assert metrics["failed_deployment_recovery_time"]["median_seconds"] == pytest.approx(8.501857)
    # 19.279054 (the first release), 40.646967 (the defect, shipped with its fix), 22.646967.
    lead = metrics["change_lead_time"]
    assert lead["commits"] == 3
    assert lead["median_seconds"] == pytest.approx(22.646967)
    assert lead["p90_seconds"] == pytest.approx(22.646967 + 0.8 * (40.646967 - 22.646967))
