"""``/api/v1/projects/{project}/line``: the andon cord — whether trunk is green, who or what
stopped the line and since when; stop and resume it by hand; and the promotion check that
refuses protected environments while it is stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from andon.errors import ConflictError, NotFoundError
from andon.pipeline import (
    assess_promotion,
    decide_manual_resume,
    decide_manual_stop,
    line_view,
    record_change,
    stopped_since,
)
from andon.server.access import actor
from andon.server.api._shared import JSONRoute
from andon.store import LineEventRecord, Store

router = APIRouter(tags=["line"], route_class=JSONRoute)


class LineStop(BaseModel):
    """Pulling the cord by hand."""

    reason: str = Field(min_length=1, description="Why the line stops, for everyone to read.")
    actor: str | None = Field(default=None, description="Ignored: the token's user pulls it.")


class LineResume(BaseModel):
    """Restarting the line by hand."""

    actor: str | None = Field(default=None, description="Ignored: the token's user resumes it.")


class Promotion(BaseModel):
    """A request to promote an artifact to an environment."""

    artifact: str = Field(min_length=7, description="The artifact's digest or a unique prefix.")
    environment: str = Field(min_length=1)


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def _now() -> datetime:
    return datetime.now(UTC)


def _event(event: LineEventRecord) -> dict[str, Any]:
    return event.to_dict()


def line_status(store: Store, project: str, now: datetime) -> dict[str, Any]:
    """The line of a project as the API and CLI show it."""
    store.projects.get(project)
    view = line_view(store, project)
    first = stopped_since(store, project)
    last = store.line.current(project)
    green = store.pipelines.last_green_on_trunk(project)
    finished = store.pipelines.last_finished_on_trunk(project)
    return {
        "project": project,
        "state": "stopped" if view.stopped else "running",
        "trunk": None if finished is None else finished.status.value,
        "cause": view.cause.value if view.cause else None,
        "reason": view.reason,
        "since": first.at.isoformat() if first else None,
        "stopped_seconds": (now - first.at).total_seconds() if first else None,
        "details": last.details if last and view.stopped else {},
        "last_green": None if green is None else {"pipeline": green.id, "commit": green.commit},
        "history": [_event(e) for e in store.line.history(project, limit=20)],
    }


@router.get("/projects/{project}/line")
def get_line(project: str, request: Request) -> dict[str, Any]:
    """Whether the line runs, why it stopped and since when, and its recent history."""
    return line_status(_store(request), project, _now())


@router.post("/projects/{project}/line/stop")
def stop_line(project: str, body: LineStop, request: Request) -> dict[str, Any]:
    """Pull the cord: protected environments refuse new artifacts until resumed or green."""
    store = _store(request)
    store.projects.get(project)
    change = decide_manual_stop(
        line_view(store, project),
        reason=body.reason,
        actor=actor(request),
        now=_now(),
    )
    record_change(store, project, change)
    request.app.state.notifier.line_changed(project, change)
    return line_status(store, project, _now())


@router.post("/projects/{project}/line/resume")
def resume_line(project: str, body: LineResume, request: Request) -> dict[str, Any]:
    """Restart a stopped line by hand."""
    store = _store(request)
    store.projects.get(project)
    change = decide_manual_resume(line_view(store, project), actor=actor(request), now=_now())
    if change is None:
        raise ConflictError(f"the line of {project} is running already; nothing to resume.")
    record_change(store, project, change)
    request.app.state.notifier.line_changed(project, change)
    return line_status(store, project, _now())


@router.post("/projects/{project}/promotions", status_code=201)
def promote(project: str, body: Promotion, request: Request) -> dict[str, Any]:
    """Ask whether an artifact may go to an environment now. Refused (409) while the line
    is stopped, for a protected environment, unless the artifact is from the last green
    commit or earlier. Deployment itself follows in the environments API."""
    store = _store(request)
    record = store.projects.get(project)
    environments = record.spec.get("environments", {})
    if body.environment not in environments:
        known = ", ".join(environments) or "none"
        raise NotFoundError(
            f"{project} has no environment '{body.environment}'; it declares {known}."
        )
    artifact = store.artifacts.get(body.artifact)
    if artifact.project != project:
        raise NotFoundError(
            f"artifact {artifact.digest[:19]} belongs to {artifact.project}, not {project}."
        )
    green = store.pipelines.last_green_on_trunk(project)
    refusal = assess_promotion(
        line_view(store, project),
        environment=body.environment,
        protected=bool(environments[body.environment].get("protected")),
        artifact_pipeline_id=artifact.pipeline_id,
        last_green_pipeline_id=green.id if green else None,
        now=_now(),
    )
    if refusal is not None:
        raise ConflictError(refusal.message)
    return {
        "project": project,
        "environment": body.environment,
        "artifact": artifact.digest,
        "allowed": True,
    }
