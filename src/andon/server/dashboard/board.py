"""``/``: the value-stream board — each recent trunk commit of every project the viewer
may see, as a row moving left to right through pipeline, artifact, each environment and
the release by a flag, with the time spent working and waiting at each stage.

The rows are decided by :mod:`~andon.server.dashboard.value_stream`; the board's live
region is refreshed over the page's event stream (``/events/board``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from andon.errors import AndonError
from andon.server.dashboard._web import Viewer, page, signed_in, store_of
from andon.server.dashboard.value_stream import (
    ARTIFACT,
    PIPELINE,
    RELEASE,
    FlowRecords,
    assess_value_stream,
)
from andon.store import ArtifactRecord, ProjectRecord, Store

router = APIRouter(include_in_schema=False)

ROWS = 15
"""Commits on the board per project."""


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
    pipelines = pipelines[:limit]
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
        flag_changes=store.flags.history(project, last, limit=200) if last else (),
    )


def board_context(store: Store, viewer: Viewer, now: datetime | None = None) -> dict[str, Any]:
    """The board's projects, each with its columns and rows."""
    now = now or datetime.now(UTC)
    projects = []
    for project in viewer.projects(store):
        environments = stream_environments(store, project)
        rows = assess_value_stream(flow_records(store, project.name, environments, limit=ROWS), now)
        columns = [PIPELINE, ARTIFACT, *environments, RELEASE]
        projects.append({"name": project.name, "columns": columns, "rows": rows})
    return {"projects": projects}


@router.get("/", response_class=HTMLResponse)
def board(request: Request, viewer: Annotated[Viewer, Depends(signed_in)]) -> HTMLResponse:
    """The value-stream board."""
    return page(
        request,
        viewer,
        "board.html",
        lambda: {**board_context(store_of(request), viewer), "live": "/events/board"},
    )
