"""``/``: the value-stream board — each recent trunk commit of every project the viewer
may see, as a row moving left to right through pipeline, artifact, each environment and
the release by a flag, with the time spent working and waiting at each stage.

The rows are decided by :mod:`~andon.dora.value_stream`; the board's live
region is refreshed over the page's event stream (``/events/board``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from andon.dora import ARTIFACT, PIPELINE, RELEASE, assess_value_stream
from andon.server.dashboard._web import Viewer, page, signed_in, store_of
from andon.server.flow_reports import flow_records, stream_environments
from andon.store import Store

router = APIRouter(include_in_schema=False)

ROWS = 15
"""Commits on the board per project."""


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
