"""The value stream's records gathered from the store, for the board (the newest commits)
and for the flow of work over a window (:func:`flow_report`, which the API's ``/flow``,
``andon flow`` and the dashboard's Delivery page show).

The deciding is :mod:`andon.dora`'s: :func:`~andon.dora.assess_value_stream` makes the rows,
:func:`~andon.dora.assess_flow` sums them up with the line's stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from andon.dora import FlowRecords, assess_flow, assess_value_stream
from andon.errors import AndonError
from andon.store import (
    ArtifactRecord,
    LineEventRecord,
    LineState,
    PipelineRecord,
    ProjectRecord,
    Store,
)

LOOKBACK = timedelta(days=7)
"""How long before a window a commit's pipeline may have begun for its later stages,
ended in the window, to count: a commit is rarely a week on its way to production."""

MAX_COMMITS = 500
"""The newest trunk commits of a window that the flow follows, so that a long window of a
busy project stays one quick request."""

_FIRST_PAGE = 100


def stream_environments(store: Store, project: ProjectRecord) -> list[str]:
    """The environments of the stream, in andon.yaml's order: those declared without a
    ttl (copies for previews come and go) that were ever created; all of them before any
    was."""
    declared = [
        name
        for name, environment in (project.spec.get("environments") or {}).items()
        if not (environment or {}).get("ttl")
    ]
    created = {record.name for record in store.environments.list(project.name)}
    used = [name for name in declared if name in created]
    return used or declared


def flow_records(
    store: Store, project: str, environments: Sequence[str], *, limit: int = 20
) -> FlowRecords:
    """The records of ``project``'s stream: its ``limit`` newest trunk pipelines and what
    followed them."""
    pipelines = [p for p in store.pipelines.list(project=project, limit=limit * 2) if p.on_trunk]
    return _records(store, project, environments, pipelines[:limit], flag_changes=200)


def window_records(
    store: Store, project: str, environments: Sequence[str], *, since: datetime
) -> FlowRecords:
    """The records of ``project``'s stream for a window from ``since``: the trunk
    pipelines begun up to :data:`LOOKBACK` before it (the newest :data:`MAX_COMMITS`)."""
    start = since - LOOKBACK
    limit = _FIRST_PAGE
    while True:
        found = store.pipelines.list(project=project, limit=limit)
        # Newest first: once the oldest fetched began before the window, so did the rest.
        if len(found) < limit or found[-1].created_at < start or limit >= 4 * MAX_COMMITS:
            break
        limit *= 2
    pipelines = [p for p in found if p.on_trunk and p.created_at >= start][:MAX_COMMITS]
    return _records(store, project, environments, pipelines, flag_changes=2000)


def line_events(store: Store, project: str, *, since: datetime) -> list[LineEventRecord]:
    """The line's events from the last time it ran before ``since`` on, newest first: what
    tells how long a stop begun before the window had lasted."""
    limit = _FIRST_PAGE
    while True:
        found = store.line.history(project, limit=limit)
        before = [e for e in found if e.at < since]
        if len(found) < limit or any(e.state is LineState.RUNNING for e in before):
            return found
        limit *= 2


def flow_report(store: Store, *, project: str, since: datetime, now: datetime) -> dict[str, Any]:
    """The flow of ``project``'s work over ``since``..``now`` as JSON-able values:
    :meth:`andon.dora.Flow.to_dict` with the project and its environments."""
    record = store.projects.get(project)
    environments = stream_environments(store, record)
    rows = assess_value_stream(window_records(store, project, environments, since=since), now)
    flow = assess_flow(rows, line_events(store, project, since=since), since=since, now=now)
    return {"project": project, "environments": environments, **flow.to_dict()}


def _records(
    store: Store,
    project: str,
    environments: Sequence[str],
    pipelines: Sequence[PipelineRecord],
    *,
    flag_changes: int,
) -> FlowRecords:
    if not pipelines:
        return FlowRecords(project, environments, [])
    since = min(p.created_at for p in pipelines)
    artifacts: dict[str, ArtifactRecord] = {}
    for digest in {p.artifact for p in pipelines if p.artifact}:
        try:
            artifacts[digest] = store.artifacts.get(digest)
        except AndonError:
            continue  # removed since: the board shows the digest alone
    last = environments[-1] if environments else None
    return FlowRecords(
        project=project,
        environments=environments,
        pipelines=pipelines,
        jobs={p.id: store.jobs.list_for_pipeline(p.id) for p in pipelines},
        artifacts=artifacts,
        deploy_events=store.deploy_events.list(project, since=since),
        rollouts=[
            r for r in store.rollouts.list(project=project, limit=50) if r.created_at >= since
        ],
        flag_changes=store.flags.history(project, last, limit=flag_changes) if last else (),
    )
