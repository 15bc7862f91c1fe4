"""The line — the andon cord. Trunk is green or red by its latest finished pipeline; a red
trunk stops the line, and while it is stopped no artifact built after the last green commit
may be promoted to a protected environment. A person may stop the line by hand; only a
resume or a later green pipeline restarts it.

Pure deciders: the pipeline runner and the line API call them with the current state and
apply what they return (an event to append, a refusal to raise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class LineCause(StrEnum):
    """Why the line changed state."""

    PIPELINE = "pipeline"
    MANUAL = "manual"


@dataclass(frozen=True)
class LineView:
    """The line of one project as the deciders need it."""

    stopped: bool
    cause: LineCause | None = None
    since: datetime | None = None
    reason: str = ""
    commit: str | None = None
    pipeline_id: int | None = None


@dataclass(frozen=True)
class FinishedPipeline:
    """What the line needs to know of a pipeline that just finished."""

    id: int
    commit: str
    success: bool
    on_trunk: bool
    created_at: datetime
    failing_jobs: Sequence[str] = ()
    failing_tests: Sequence[str] = ()


@dataclass(frozen=True)
class LineChange:
    """An event to record: the line's state after it, and why."""

    stopped: bool
    cause: LineCause
    reason: str
    at: datetime
    actor: str = "andon"
    commit: str | None = None
    pipeline_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def decide_after_pipeline(
    line: LineView, pipeline: FinishedPipeline, now: datetime
) -> LineChange | None:
    """The change a finished pipeline makes to the line, or None. No side effects.

    Branch pipelines never touch the line. A red trunk stops a running line; a green trunk
    restarts a line that a pipeline stopped, or one stopped by hand before that pipeline
    was created (a *later* green).
    """
    if not pipeline.on_trunk:
        return None
    short = pipeline.commit[:12]
    if not pipeline.success:
        if line.stopped:
            return None
        jobs = ", ".join(pipeline.failing_jobs) or "a job"
        tests = _some(pipeline.failing_tests)
        failing = f"{jobs} failed" + (f" ({tests})" if tests else "")
        return LineChange(
            stopped=True,
            cause=LineCause.PIPELINE,
            reason=f"trunk is red: pipeline #{pipeline.id} for commit {short}: {failing}",
            at=now,
            commit=pipeline.commit,
            pipeline_id=pipeline.id,
            details={
                "failing_jobs": list(pipeline.failing_jobs),
                "failing_tests": list(pipeline.failing_tests),
            },
        )
    if not line.stopped:
        return None
    # A green pipeline that was already under way when someone pulled the cord by hand
    # does not answer their concern; only one created after the stop does.
    manual = line.cause is LineCause.MANUAL and line.since is not None
    if manual and line.since is not None and pipeline.created_at <= line.since:
        return None
    return LineChange(
        stopped=False,
        cause=LineCause.PIPELINE,
        reason=f"trunk is green again: pipeline #{pipeline.id} for commit {short} passed",
        at=now,
        commit=pipeline.commit,
        pipeline_id=pipeline.id,
    )


def decide_manual_stop(line: LineView, *, reason: str, actor: str, now: datetime) -> LineChange:
    """A person pulls the cord. No side effects; stopping a stopped line records the new
    reason and makes the stop a manual one."""
    return LineChange(
        stopped=True,
        cause=LineCause.MANUAL,
        reason=reason.strip() or "stopped by hand",
        at=now,
        actor=actor,
        commit=line.commit,
        pipeline_id=line.pipeline_id,
    )


def decide_manual_resume(line: LineView, *, actor: str, now: datetime) -> LineChange | None:
    """A person restarts the line; None when it is running already. No side effects."""
    if not line.stopped:
        return None
    return LineChange(
        stopped=False,
        cause=LineCause.MANUAL,
        reason=f"resumed by {actor}",
        at=now,
        actor=actor,
    )


@dataclass(frozen=True)
class PromotionRefusal:
    """Why an artifact may not go to an environment now."""

    message: str


def assess_promotion(
    line: LineView,
    *,
    environment: str,
    protected: bool,
    artifact_pipeline_id: int | None,
    last_green_pipeline_id: int | None,
    now: datetime,
) -> PromotionRefusal | None:
    """Whether the line allows promoting an artifact to an environment. No side effects.

    Unprotected environments always may; while the line runs, everything may; while it is
    stopped, a protected environment accepts only artifacts built no later than the last
    green commit (so rolling back to a known-good version stays possible).
    """
    if not protected or not line.stopped:
        return None
    if (
        artifact_pipeline_id is not None
        and last_green_pipeline_id is not None
        and artifact_pipeline_id <= last_green_pipeline_id
    ):
        return None
    since = ""
    if line.since is not None:
        minutes = max(0, int((now - line.since).total_seconds() // 60))
        since = f" since {line.since:%Y-%m-%d %H:%M} UTC ({minutes} min)"
    return PromotionRefusal(
        f"the line is stopped{since}: {line.reason}; '{environment}' is protected and accepts "
        "only artifacts from the last green commit until trunk is green again "
        "('andon line status' shows more)."
    )


def _some(names: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    more = len(names) - limit
    return f"{shown} and {more} more" if more > 0 else shown
