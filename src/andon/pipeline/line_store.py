"""The line as the store keeps it: a log of events per project, read back as the view the
line's deciders take. Used by the pipeline runner and the line API."""

from __future__ import annotations

from andon.pipeline.line import LineCause, LineChange, LineView
from andon.store import LineEventRecord, LineState, Store


def line_view(store: Store, project: str) -> LineView:
    """The line of ``project`` now; a project with no events runs."""
    current = store.line.current(project)
    if current is None:
        return LineView(stopped=False)
    return LineView(
        stopped=current.state == LineState.STOPPED,
        cause=LineCause(current.cause),
        since=current.at,
        reason=current.reason,
        commit=current.commit,
        pipeline_id=current.pipeline_id,
    )


def record_change(store: Store, project: str, change: LineChange) -> LineEventRecord:
    """Append ``change`` to the project's line events."""
    return store.line.append(
        project=project,
        state=LineState.STOPPED if change.stopped else LineState.RUNNING,
        cause=change.cause.value,
        reason=change.reason,
        actor=change.actor,
        commit=change.commit,
        pipeline_id=change.pipeline_id,
        details=change.details,
        at=change.at,
    )


def stopped_since(store: Store, project: str) -> LineEventRecord | None:
    """The event that began the current stop (the first of the stopped streak), or None
    when the line runs."""
    first: LineEventRecord | None = None
    for event in store.line.history(project, limit=1000):
        if event.state != LineState.STOPPED:
            break
        first = event
    return first
