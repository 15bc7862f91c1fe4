"""``/pipelines``: recent pipelines, and one pipeline with its jobs and a job's live log.

Both pages have live regions refreshed over their event streams (``/events/pipelines``,
``/events/pipelines/{id}``): the list, the jobs' states and durations, and the tail of
the log of the job chosen (``?job=NAME``; by default the one running, else the first
that failed, else the last).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from andon.server.dashboard._web import Viewer, page, signed_in, store_of
from andon.store import JobRecord, JobStatus, Role, Store

router = APIRouter(include_in_schema=False)

LOG_TAIL = 128 * 1024
"""Bytes of a job's log shown: its end, where what went wrong usually is."""


def pipelines_context(store: Store, viewer: Viewer, *, limit: int = 50) -> dict[str, Any]:
    """The newest pipelines of the projects the viewer may see."""
    found = [p for p in store.pipelines.list(limit=limit) if viewer.may(p.project)]
    return {"pipelines": found}


def pipeline_context(
    store: Store, viewer: Viewer, pipeline_id: int, job: str | None
) -> dict[str, Any]:
    """One pipeline, its jobs, and the log of the job chosen."""
    pipeline = store.pipelines.get(pipeline_id)
    viewer.check(pipeline.project, Role.VIEWER, "see this pipeline")
    jobs = store.jobs.list_for_pipeline(pipeline_id)
    chosen = _chosen(jobs, job)
    return {
        "pipeline": pipeline,
        "jobs": jobs,
        "job": chosen,
        "log": _tail(chosen) if chosen is not None else "",
        "durations": {j.name: j.duration for j in jobs},
        "live": f"/events/pipelines/{pipeline_id}"
        + (f"?job={quote(chosen.name)}" if chosen is not None else ""),
    }


def _chosen(jobs: list[JobRecord], name: str | None) -> JobRecord | None:
    if name:
        return next((job for job in jobs if job.name == name), None)
    running = [job for job in jobs if job.status is JobStatus.RUNNING]
    failed = [job for job in jobs if job.status is JobStatus.FAILED]
    started = [job for job in jobs if job.started_at is not None]
    for candidates in (running, failed, started):
        if candidates:
            return candidates[0] if candidates is not started else candidates[-1]
    return None


def _tail(job: JobRecord) -> str:
    if not job.log_path:
        return ""
    path = Path(job.log_path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            handle.seek(max(0, size - LOG_TAIL))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    if size > LOG_TAIL:
        # Cut at a line: a half line at the top reads as garbage.
        text = "[…]\n" + text.split("\n", 1)[-1]
    return text


@router.get("/pipelines", response_class=HTMLResponse)
def pipelines(request: Request, viewer: Annotated[Viewer, Depends(signed_in)]) -> HTMLResponse:
    """Recent pipelines."""
    return page(
        request,
        viewer,
        "pipelines.html",
        lambda: {**pipelines_context(store_of(request), viewer), "live": "/events/pipelines"},
    )


@router.get("/pipelines/{pipeline_id}", response_class=HTMLResponse)
def pipeline(
    request: Request,
    pipeline_id: int,
    viewer: Annotated[Viewer, Depends(signed_in)],
    job: str | None = None,
) -> HTMLResponse:
    """One pipeline with its jobs and a job's log."""
    return page(
        request,
        viewer,
        "pipeline.html",
        lambda: pipeline_context(store_of(request), viewer, pipeline_id, job),
    )
