"""The flow over a window from hand-made value-stream rows and line events, at a fixed
``now``: per stage, the process and wait time of the visits that ended in the window;
the lead time to the last environment split the same way; the line's stops clipped to
the window; and the whole JSON of one small stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from andon.dora import Flow, FlowRow, Stage, StageState, assess_flow
from andon.store import LineEventRecord, LineState

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SINCE = T0
NOW = T0 + timedelta(hours=10)
NAMES = ("pipeline", "artifact", "test", "prod", "release")
DONE, FAILED, WAITING, WORKING = (
    StageState.DONE,
    StageState.FAILED,
    StageState.WAITING,
    StageState.WORKING,
)


def at(minutes: float) -> datetime:
    """Minutes after the window began (negative: before it)."""
    return T0 + timedelta(minutes=minutes)


def stage(
    name: str,
    state: StageState = StageState.NOT_REACHED,
    *,
    working: float | None = None,
    waiting: float | None = None,
    ended: float | None = None,
) -> Stage:
    return Stage(
        name,
        state,
        finished_at=None if ended is None else at(ended),
        working=working,
        waiting=waiting,
    )


def row(commit: str, *stages: Stage) -> FlowRow:
    """A row of the stream's five stages: those given, the rest not reached."""
    given = {s.name: s for s in stages}
    return FlowRow("shop", commit, 1, tuple(given.get(name, Stage(name)) for name in NAMES))


def line(id: int, state: LineState, minutes: float, reason: str = "") -> LineEventRecord:
    return LineEventRecord(
        id=id,
        project="shop",
        state=state,
        cause="pipeline" if state is LineState.STOPPED else "manual",
        reason=reason,
        actor="andon" if state is LineState.STOPPED else "ann",
        commit=None,
        pipeline_id=None,
        details={},
        at=at(minutes),
    )


def flow(rows: list[FlowRow], events: list[LineEventRecord] | None = None) -> Flow:
    return assess_flow(rows, events or [], since=SINCE, now=NOW)


# -- stages -------------------------------------------------------------------------------


def test_a_stage_sums_the_visits_that_ended_in_the_window_and_counts_those_under_way() -> None:
    rows = [
        row("a", stage("pipeline", DONE, working=60, waiting=30, ended=10)),
        row("b", stage("pipeline", FAILED, working=120, waiting=0, ended=20)),
        row("c", stage("pipeline", DONE, working=240, waiting=90, ended=30)),
        # Ended before the window: not counted, though its row is given.
        row("d", stage("pipeline", DONE, working=999, waiting=999, ended=-5)),
        row("e", stage("pipeline", WORKING, working=5, waiting=1)),
        row("f", stage("pipeline", WAITING, waiting=7)),
    ]
    pipeline = flow(rows).stages[0]
    assert pipeline.name == "pipeline"
    assert (pipeline.items, pipeline.failed, pipeline.in_progress) == (3, 1, 2)
    assert (pipeline.process_seconds, pipeline.wait_seconds) == (420.0, 120.0)
    assert (pipeline.median_process_seconds, pipeline.median_wait_seconds) == (120.0, 30.0)
    assert pipeline.efficiency == pytest.approx(420 / 540)


def test_a_visit_that_began_before_the_window_counts_whole_when_it_ended_in_it() -> None:
    rows = [row("a", stage("pipeline", DONE, working=3600, waiting=600, ended=1))]
    pipeline = flow(rows).stages[0]
    assert (pipeline.items, pipeline.process_seconds, pipeline.wait_seconds) == (1, 3600, 600)


def test_stages_keep_the_streams_order_and_one_never_reached_has_no_time() -> None:
    rows = [row("a", stage("pipeline", DONE, working=10, waiting=0, ended=1))]
    stages = flow(rows).stages
    assert [s.name for s in stages] == list(NAMES)
    prod = stages[3]
    assert (prod.items, prod.process_seconds, prod.wait_seconds) == (0, 0.0, 0.0)
    assert (prod.median_process_seconds, prod.efficiency) == (None, None)


def test_a_release_at_once_has_no_time_so_no_efficiency() -> None:
    rows = [row("a", stage("release", DONE, working=0, waiting=0, ended=5))]
    release = flow(rows).stages[-1]
    assert (release.items, release.efficiency) == (1, None)


def test_without_rows_there_are_no_stages_and_no_lead_time() -> None:
    empty = flow([])
    assert empty.stages == ()
    assert (empty.lead_time.to, empty.lead_time.commits) == (None, 0)


# -- lead time ----------------------------------------------------------------------------


def test_the_lead_time_to_the_last_environment_splits_into_process_and_wait() -> None:
    went_all_the_way = row(
        "a",
        stage("pipeline", DONE, working=300, waiting=60, ended=10),
        stage("artifact", DONE, working=60, waiting=0, ended=11),
        stage("test", DONE, working=120, waiting=60, ended=14),
        stage("prod", DONE, working=600, waiting=1800, ended=54),
        # Released later by a flag: after production, so not part of this lead time.
        stage("release", DONE, working=0, waiting=7200, ended=174),
    )
    straight_to_prod = row(
        "b",
        stage("pipeline", DONE, working=200, waiting=0, ended=100),
        stage("artifact", DONE, working=40, waiting=0, ended=101),
        stage("prod", DONE, working=300, waiting=60, ended=107),
    )
    rolled_back = row(
        "c",
        stage("pipeline", DONE, working=100, waiting=0, ended=200),
        stage("artifact", DONE, working=10, waiting=0, ended=201),
        stage("prod", FAILED, working=300, waiting=0, ended=206),
    )
    lead = flow([went_all_the_way, straight_to_prod, rolled_back]).lead_time
    assert (lead.to, lead.commits) == ("prod", 2)
    assert (lead.process_seconds, lead.wait_seconds) == (1080 + 540, 1920 + 60)
    assert lead.median_seconds == (3000 + 600) / 2
    assert (lead.median_process_seconds, lead.median_wait_seconds) == (810.0, 990.0)
    assert lead.efficiency == pytest.approx(1620 / 3600)


def test_a_commit_that_reached_production_before_the_window_is_not_in_its_lead_time() -> None:
    earlier = row(
        "a",
        stage("pipeline", DONE, working=30, waiting=0, ended=-50),
        stage("prod", DONE, working=30, waiting=0, ended=-40),
    )
    assert flow([earlier]).lead_time.commits == 0


def test_a_stream_without_environments_has_no_lead_time_to_production() -> None:
    rows = [
        FlowRow(
            "shop",
            "a",
            1,
            (
                stage("pipeline", DONE, working=1, waiting=0, ended=1),
                stage("artifact", DONE, working=1, waiting=0, ended=2),
                Stage("release"),
            ),
        )
    ]
    assert flow(rows).lead_time.to is None


# -- the line -----------------------------------------------------------------------------


def test_the_line_counts_its_time_stopped_in_the_window_and_its_longest_stop() -> None:
    events = [
        # Stopped an hour before the window, running again 30 minutes into it.
        line(1, LineState.STOPPED, -60, "trunk is red: unit failed"),
        line(2, LineState.STOPPED, -10, "trunk is red again"),  # the same stop
        line(3, LineState.RUNNING, 30),
        # A short stop inside the window.
        line(4, LineState.STOPPED, 100, "payment provider down"),
        line(5, LineState.RUNNING, 120),
        # Stopped 45 minutes before now, still stopped.
        line(6, LineState.STOPPED, 555, "trunk is red: lint"),
    ]
    stops = flow([], events).line
    assert stops.stops == 3
    assert stops.stopped_seconds == (30 + 20 + 45) * 60
    assert stops.stopped_share == pytest.approx(95 / 600)
    assert stops.stopped_now
    assert stops.longest is not None
    assert (stops.longest.started_at, stops.longest.ended_at) == (at(-60), at(30))
    assert stops.longest.seconds == 90 * 60  # whole, the part before the window too
    assert stops.longest.reason == "trunk is red: unit failed"
    assert (stops.longest.cause, stops.longest.actor) == ("pipeline", "andon")


def test_a_stop_that_ended_before_the_window_and_events_after_now_do_not_count() -> None:
    events = [
        line(1, LineState.STOPPED, -60),
        line(2, LineState.RUNNING, -30),
        line(3, LineState.STOPPED, 700),  # a clock ahead of ours: not yet
    ]
    stops = flow([], events).line
    assert (stops.stops, stops.stopped_seconds, stops.stopped_now) == (0, 0.0, False)
    assert stops.longest is None


def test_events_are_read_in_time_order_whatever_order_they_come_in() -> None:
    events = [line(2, LineState.RUNNING, 20), line(1, LineState.STOPPED, 10, "why")]
    stops = flow([], events).line
    assert (stops.stops, stops.stopped_seconds) == (1, 600.0)


def test_a_line_that_never_stopped_was_stopped_no_part_of_the_window() -> None:
    stops = flow([], [line(1, LineState.RUNNING, 5)]).line
    assert (stops.stops, stops.stopped_seconds, stops.stopped_share) == (0, 0.0, 0.0)


# -- JSON ---------------------------------------------------------------------------------


def test_the_flow_reads_as_json() -> None:
    rows = [
        row(
            "a",
            stage("pipeline", DONE, working=90, waiting=30, ended=2),
            stage("artifact", DONE, working=20, waiting=10, ended=3),
            stage("prod", DONE, working=60, waiting=30, ended=6),
        ),
        row("b", stage("pipeline", WAITING, waiting=10)),
    ]
    events = [line(1, LineState.STOPPED, 60, "red"), line(2, LineState.RUNNING, 90)]
    empty = {"items": 0, "failed": 0, "in_progress": 0, "process_seconds": 0.0}
    untimed = {
        **empty,
        "wait_seconds": 0.0,
        "median_process_seconds": None,
        "median_wait_seconds": None,
        "efficiency": None,
    }
    assert flow(rows, events).to_dict() == {
        "since": "2026-03-02T09:00:00Z",
        "until": "2026-03-02T19:00:00Z",
        "days": pytest.approx(10 / 24),
        "stages": [
            {
                "name": "pipeline",
                "items": 1,
                "failed": 0,
                "in_progress": 1,
                "process_seconds": 90.0,
                "wait_seconds": 30.0,
                "median_process_seconds": 90.0,
                "median_wait_seconds": 30.0,
                "efficiency": 0.75,
            },
            {
                "name": "artifact",
                "items": 1,
                "failed": 0,
                "in_progress": 0,
                "process_seconds": 20.0,
                "wait_seconds": 10.0,
                "median_process_seconds": 20.0,
                "median_wait_seconds": 10.0,
                "efficiency": pytest.approx(2 / 3),
            },
            {"name": "test", **untimed},
            {
                "name": "prod",
                "items": 1,
                "failed": 0,
                "in_progress": 0,
                "process_seconds": 60.0,
                "wait_seconds": 30.0,
                "median_process_seconds": 60.0,
                "median_wait_seconds": 30.0,
                "efficiency": pytest.approx(2 / 3),
            },
            {"name": "release", **untimed},
        ],
        "lead_time": {
            "to": "prod",
            "commits": 1,
            "process_seconds": 170.0,
            "wait_seconds": 70.0,
            "median_seconds": 240.0,
            "median_process_seconds": 170.0,
            "median_wait_seconds": 70.0,
            "efficiency": pytest.approx(170 / 240),
        },
        "line": {
            "stops": 1,
            "stopped_seconds": 1800.0,
            "stopped_share": 0.05,
            "stopped_now": False,
            "longest": {
                "started_at": "2026-03-02T10:00:00Z",
                "ended_at": "2026-03-02T10:30:00Z",
                "seconds": 1800.0,
                "cause": "pipeline",
                "reason": "red",
                "actor": "andon",
            },
        },
    }
