"""``/api/v1/projects``: register service repositories and list them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from andon.server.api._shared import JSONRoute
from andon.server.registry import register_project
from andon.store import ProjectRecord, Store

router = APIRouter(tags=["projects"], route_class=JSONRoute)


class ProjectIn(BaseModel):
    """A repository to register."""

    source: str = Field(min_length=1, description="A local repository path or a git URL.")
    dir: str = Field(default="", description="The directory of andon.yaml in the repository.")
    name: str | None = Field(default=None, description="Defaults to the service's name.")
    trunk: str = Field(default="main", min_length=1, description="The trunk branch.")


class ProjectOut(BaseModel):
    """A registered project."""

    name: str
    source: str
    dir: str
    trunk: str
    service: str
    commit: str
    created_at: datetime
    updated_at: datetime
    spec: dict[str, Any]


def _out(record: ProjectRecord) -> ProjectOut:
    return ProjectOut(
        name=record.name,
        source=record.source,
        dir=record.subdir,
        trunk=record.trunk,
        service=record.service,
        commit=record.commit,
        created_at=record.created_at,
        updated_at=record.updated_at,
        spec=record.spec,
    )


@router.get("/projects", response_model=list[ProjectOut])
def list_projects(request: Request) -> list[ProjectOut]:
    """Every registered project, by name."""
    store: Store = request.app.state.store
    return [_out(record) for record in store.projects.list()]


@router.post(
    "/projects",
    response_model=ProjectOut,
    status_code=201,
    responses={200: {"model": ProjectOut, "description": "An existing project was refreshed."}},
)
def add_project(body: ProjectIn, request: Request, response: Response) -> ProjectOut:
    """Register a repository: its andon.yaml is read and validated at the tip of trunk;
    an invalid file is refused (422) with every located problem. Adding the same
    repository again refreshes it from trunk (200)."""
    record, created = register_project(
        request.app.state.store,
        request.app.state.settings,
        source=body.source,
        subdir=body.dir,
        name=body.name,
        trunk=body.trunk,
    )
    if not created:
        response.status_code = 200
    # The first pipeline, for the tip of trunk, starts at once rather than at the next poll.
    request.app.state.scheduler.wake()
    return _out(record)


@router.get("/projects/{name}", response_model=ProjectOut)
def get_project(name: str, request: Request) -> ProjectOut:
    """One registered project."""
    store: Store = request.app.state.store
    return _out(store.projects.get(name))


@router.delete("/projects/{name}", status_code=204)
def remove_project(name: str, request: Request) -> Response:
    """Forget a project (its repository is left alone)."""
    store: Store = request.app.state.store
    store.projects.remove(name)
    return Response(status_code=204)
