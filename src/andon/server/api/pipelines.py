"""``/api/v1/pipelines``: run pipelines by hand, list and show them with their jobs, follow
job logs (Server-Sent Events), cancel them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from andon.repos import GitRepository
from andon.server.api._shared import LOG_RESPONSES, JSONRoute, RecordId
from andon.server.scheduling import PipelineScheduler
from andon.store import JobRecord, PipelineRecord, Store

router = APIRouter(tags=["pipelines"], route_class=JSONRoute)


class PipelineRun(BaseModel):
    """A pipeline to run by hand."""

    ref: str | None = Field(default=None, description="A branch or commit; defaults to trunk.")


def pipeline_dict(pipeline: PipelineRecord, jobs: list[JobRecord] | None = None) -> dict[str, Any]:
    """The API's view of a pipeline (with its jobs when given)."""
    data = pipeline.to_dict()
    started, finished = pipeline.started_at, pipeline.finished_at
    data["duration"] = (finished - started).total_seconds() if started and finished else None
    if jobs is not None:
        data["jobs"] = [job_dict(job) for job in jobs]
    return data


def job_dict(job: JobRecord) -> dict[str, Any]:
    """The API's view of a job."""
    data = job.to_dict()
    data["duration"] = job.duration
    data.pop("log_path", None)
    return data


def _scheduler(request: Request) -> PipelineScheduler:
    return request.app.state.scheduler  # type: ignore[no-any-return]


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


@router.post("/projects/{project}/pipelines", status_code=201)
def run_pipeline(project: str, body: PipelineRun, request: Request) -> dict[str, Any]:
    """Queue a pipeline for a branch or commit (default: the tip of trunk)."""
    record = _store(request).projects.get(project)
    settings = request.app.state.settings
    repo = GitRepository.open(record.source, mirrors=settings.repos_dir, name=record.name)
    ref = body.ref or record.trunk
    commit = repo.resolve(ref)
    branch = ref if repo.is_branch(ref) else ""
    pipeline = _scheduler(request).queue(record, commit, branch=branch, trigger="manual")
    return pipeline_dict(pipeline)


@router.get("/pipelines")
def list_pipelines(
    request: Request,
    project: str | None = None,
    limit: int = Query(default=20, ge=1, le=500),
) -> list[dict[str, Any]]:
    """Recent pipelines, newest first."""
    return [pipeline_dict(p) for p in _store(request).pipelines.list(project=project, limit=limit)]


@router.get("/pipelines/{pipeline_id}")
def show_pipeline(pipeline_id: RecordId, request: Request) -> dict[str, Any]:
    """One pipeline with its jobs."""
    store = _store(request)
    pipeline = store.pipelines.get(pipeline_id)
    return pipeline_dict(pipeline, store.jobs.list_for_pipeline(pipeline_id))


@router.post("/pipelines/{pipeline_id}/cancel")
def cancel_pipeline(pipeline_id: RecordId, request: Request) -> dict[str, Any]:
    """Cancel a queued or running pipeline; its running jobs are stopped."""
    return pipeline_dict(_scheduler(request).cancel(pipeline_id))


@router.get(
    "/pipelines/{pipeline_id}/logs/{job:path}",
    response_class=Response,
    responses=LOG_RESPONSES,
)
async def job_log(
    pipeline_id: RecordId,
    job: str,
    request: Request,
    follow: bool = False,
) -> Any:
    """A job's log: plain text, or with ``follow=true`` a Server-Sent Events stream of lines
    that ends when the job does (``event: end``). ``Last-Event-ID`` resumes at a byte offset."""
    store = _store(request)
    store.pipelines.get(pipeline_id)
    record = store.jobs.get_by_name(pipeline_id, job)
    path = Path(record.log_path) if record.log_path else None
    if not follow:
        text = path.read_text("utf-8", errors="replace") if path and path.exists() else ""
        return PlainTextResponse(text)
    offset = int(request.headers.get("last-event-id") or 0)
    return StreamingResponse(
        _follow(store, pipeline_id, job, offset),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _follow(store: Store, pipeline_id: int, job: str, offset: int) -> AsyncIterator[str]:
    """Lines appended to a job's log, as SSE events whose ids are byte offsets."""
    while True:
        record = store.jobs.get_by_name(pipeline_id, job)
        path = Path(record.log_path) if record.log_path else None
        if path is not None and path.exists():
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            complete = chunk[: chunk.rfind(b"\n") + 1] if b"\n" in chunk else b""
            if record.status.finished:
                complete = chunk
            if complete:
                offset += len(complete)
                for line in complete.decode("utf-8", errors="replace").splitlines():
                    yield f"id: {offset}\ndata: {line}\n\n"
        if record.status.finished:
            end = {"status": record.status.value, "reason": record.reason}
            yield f"event: end\ndata: {json.dumps(end)}\n\n"
            return
        await asyncio.sleep(0.2)
