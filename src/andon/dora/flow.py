"""The flow of work over a window, decided purely: for each stage of the value stream, how
much of its time was process (someone's or something's work) and how much was waiting;
the same split of the lead time from commit to the last environment; and the time the
line spent stopped.

The server gathers the value stream's rows (:func:`~andon.dora.value_stream.assess_value_stream`)
and the line's events, and calls :func:`assess_flow`; the API's ``/flow``, ``andon flow`` and
the dashboard's Delivery page show its :meth:`Flow.to_dict`.

A stage's visit counts when it ended (done or failed) within the window, with all of its
time, even the part before the window began: the window picks the work finished in it, as
DORA's metrics pick deployments. A stop of the line counts for its part within the window.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from andon.dora.value_stream import ARTIFACT, PIPELINE, RELEASE, FlowRow, Stage, StageState
from andon.store import LineEventRecord, LineState

_ENDED = (StageState.DONE, StageState.FAILED)
_UNDER_WAY = (StageState.WAITING, StageState.WORKING)


@dataclass(frozen=True, slots=True)
class StageFlow:
    """One stage of the stream over the window: the visits that ended in it, and the time
    they spent in process and waiting."""

    name: str
    items: int = 0
    """Visits that ended in the window (done or failed)."""
    failed: int = 0
    """Of them, those that failed."""
    in_progress: int = 0
    """Commits waiting at the stage or being worked on now."""
    process_seconds: float = 0.0
    wait_seconds: float = 0.0
    median_process_seconds: float | None = None
    median_wait_seconds: float | None = None

    @property
    def efficiency(self) -> float | None:
        """Process time's share of the stage's time; None when no time was spent."""
        return _share(self.process_seconds, self.wait_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "items": self.items,
            "failed": self.failed,
            "in_progress": self.in_progress,
            "process_seconds": self.process_seconds,
            "wait_seconds": self.wait_seconds,
            "median_process_seconds": self.median_process_seconds,
            "median_wait_seconds": self.median_wait_seconds,
            "efficiency": self.efficiency,
        }


@dataclass(frozen=True, slots=True)
class LeadTimeSplit:
    """The lead time of the commits that reached the last environment in the window, from
    their pipeline's start, split into process and wait across every stage on the way."""

    to: str | None
    """The last environment of the stream; None for a stream without one."""
    commits: int = 0
    process_seconds: float = 0.0
    wait_seconds: float = 0.0
    median_seconds: float | None = None
    median_process_seconds: float | None = None
    median_wait_seconds: float | None = None

    @property
    def efficiency(self) -> float | None:
        """Process time's share of the lead time; None without a commit."""
        return _share(self.process_seconds, self.wait_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "commits": self.commits,
            "process_seconds": self.process_seconds,
            "wait_seconds": self.wait_seconds,
            "median_seconds": self.median_seconds,
            "median_process_seconds": self.median_process_seconds,
            "median_wait_seconds": self.median_wait_seconds,
            "efficiency": self.efficiency,
        }


@dataclass(frozen=True, slots=True)
class LineStop:
    """One stop of the line, from the event that stopped it to the one that restarted it."""

    started_at: datetime
    ended_at: datetime | None
    """None while the line is still stopped."""
    seconds: float
    """Its whole length (until now for a stop still open), the part before the window too."""
    cause: str
    reason: str
    actor: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": _iso(self.started_at),
            "ended_at": None if self.ended_at is None else _iso(self.ended_at),
            "seconds": self.seconds,
            "cause": self.cause,
            "reason": self.reason,
            "actor": self.actor,
        }


@dataclass(frozen=True, slots=True)
class LineStops:
    """The time the line spent stopped within the window."""

    stops: int = 0
    """Stops that overlap the window."""
    stopped_seconds: float = 0.0
    """Their time within the window."""
    window_seconds: float = 0.0
    stopped_now: bool = False
    longest: LineStop | None = None

    @property
    def stopped_share(self) -> float | None:
        """The share of the window the line was stopped; None for an empty window."""
        return self.stopped_seconds / self.window_seconds if self.window_seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stops": self.stops,
            "stopped_seconds": self.stopped_seconds,
            "stopped_share": self.stopped_share,
            "stopped_now": self.stopped_now,
            "longest": None if self.longest is None else self.longest.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Flow:
    """The flow of a project's work over ``since`` → ``until``."""

    since: datetime
    until: datetime
    stages: tuple[StageFlow, ...]
    """In the stream's order: pipeline, artifact, each environment, release."""
    lead_time: LeadTimeSplit
    line: LineStops

    @property
    def days(self) -> float:
        return (self.until - self.since).total_seconds() / 86_400

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; times as ISO 8601 in UTC with a ``Z``."""
        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
            "days": self.days,
            "stages": [stage.to_dict() for stage in self.stages],
            "lead_time": self.lead_time.to_dict(),
            "line": self.line.to_dict(),
        }


def assess_flow(
    rows: Sequence[FlowRow],
    line_events: Iterable[LineEventRecord],
    *,
    since: datetime,
    now: datetime,
) -> Flow:
    """The flow over ``since`` → ``now`` of the value stream's ``rows`` (of one project) and
    of its line's events (any order, those before ``since`` too, so that a stop begun
    before the window is known); no side effects."""
    names = [stage.name for stage in rows[0].stages] if rows else []
    visits: dict[str, list[Stage]] = {name: [] for name in names}
    under_way = dict.fromkeys(names, 0)
    for row in rows:
        for stage in row.stages:
            if stage.state in _UNDER_WAY:
                under_way[stage.name] += 1
            elif _ended_within(stage, since, now):
                visits[stage.name].append(stage)
    stages = tuple(_stage_flow(name, visits[name], under_way[name]) for name in names)
    return Flow(
        since=since,
        until=now,
        stages=stages,
        lead_time=_lead_time(rows, names, since, now),
        line=_line_stops(line_events, since, now),
    )


def _stage_flow(name: str, visits: Sequence[Stage], in_progress: int) -> StageFlow:
    process = [stage.working or 0.0 for stage in visits]
    wait = [stage.waiting or 0.0 for stage in visits]
    return StageFlow(
        name=name,
        items=len(visits),
        failed=sum(stage.state is StageState.FAILED for stage in visits),
        in_progress=in_progress,
        process_seconds=sum(process),
        wait_seconds=sum(wait),
        median_process_seconds=_median(process),
        median_wait_seconds=_median(wait),
    )


def _lead_time(
    rows: Sequence[FlowRow], names: Sequence[str], since: datetime, now: datetime
) -> LeadTimeSplit:
    """Over the rows whose last environment ended done in the window: every stage up to it."""
    environments = [name for name in names if name not in (PIPELINE, ARTIFACT, RELEASE)]
    if not environments:
        return LeadTimeSplit(to=None)
    last = names.index(environments[-1])
    process, wait = [], []
    for row in rows:
        arrived = row.stages[last]
        if arrived.state is not StageState.DONE or not _ended_within(arrived, since, now):
            continue
        # Stages skipped on the way (straight to prod) took no time: their times are None.
        process.append(sum(stage.working or 0.0 for stage in row.stages[: last + 1]))
        wait.append(sum(stage.waiting or 0.0 for stage in row.stages[: last + 1]))
    return LeadTimeSplit(
        to=environments[-1],
        commits=len(process),
        process_seconds=sum(process),
        wait_seconds=sum(wait),
        median_seconds=_median([p + w for p, w in zip(process, wait, strict=True)]),
        median_process_seconds=_median(process),
        median_wait_seconds=_median(wait),
    )


def _line_stops(events: Iterable[LineEventRecord], since: datetime, now: datetime) -> LineStops:
    """The stops that overlap the window; each begins at the first of a streak of stopped
    events (a red trunk that fails again stays one stop) and ends at the next running one."""
    stops: list[LineStop] = []
    began: LineEventRecord | None = None
    # By time, then by id: an event may carry its caller's time. One after now (a clock
    # ahead of ours) has not happened yet.
    for event in sorted(events, key=lambda e: (e.at, e.id)):
        if event.at > now:
            break
        if event.state is LineState.STOPPED and began is None:
            began = event
        elif event.state is LineState.RUNNING and began is not None:
            stops.append(_stop(began, event.at, now))
            began = None
    if began is not None:
        stops.append(_stop(began, None, now))
    within = [stop for stop in stops if _overlaps(stop, since, now)]
    longest = max(within, key=lambda stop: stop.seconds, default=None)
    return LineStops(
        stops=len(within),
        stopped_seconds=sum(_seconds(max(s.started_at, since), s.ended_at or now) for s in within),
        window_seconds=_seconds(since, now),
        stopped_now=began is not None,
        longest=longest,
    )


def _stop(began: LineEventRecord, ended_at: datetime | None, now: datetime) -> LineStop:
    return LineStop(
        started_at=began.at,
        ended_at=ended_at,
        seconds=_seconds(began.at, ended_at or now),
        cause=began.cause,
        reason=began.reason,
        actor=began.actor,
    )


def _overlaps(stop: LineStop, since: datetime, now: datetime) -> bool:
    """Whether the stop was on within the window (an instant's stop in it counts too)."""
    if stop.started_at >= since:
        return stop.started_at <= now
    return stop.ended_at is None or stop.ended_at > since


def _ended_within(stage: Stage, since: datetime, now: datetime) -> bool:
    return (
        stage.state in _ENDED
        and stage.finished_at is not None
        and since <= stage.finished_at <= now
    )


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _share(part: float, rest: float) -> float | None:
    total = part + rest
    return part / total if total > 0 else None


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
