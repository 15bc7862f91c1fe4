"""``/api/v1/projects/{project}/environments``: environments on demand — create one from
andon.yaml (or an ephemeral copy of one) and the artifact to run, follow its steps, look
at it (instances, health, URL, age, TTL), destroy or recreate it, compare two, check it
for drift and read its logs.

Creating, destroying and recreating answer 202 at once and go on in the background
(``operations.py``); the environment's record and its last operation's steps say how far
they got. A protected environment asks the line first and is refused with its reason.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from andon.environments import (
    EnvironmentLifecycle,
    EnvironmentOrder,
    assess_difference,
    instance_name,
    plan_instances,
)
from andon.errors import AndonError, ConflictError
from andon.pipeline import assess_promotion, line_view
from andon.runtimes import InstanceStatus
from andon.server.api._shared import LOG_RESPONSES, JSONRoute, parse_span
from andon.server.operations import EnvironmentOperations
from andon.store import EnvironmentRecord, EnvironmentStatus, Store

router = APIRouter(tags=["environments"], route_class=JSONRoute)

FOLLOW_INTERVAL_S = 0.5
FOLLOW_TAIL = 1000
"""Lines of each log compared between two looks when following: more than any instance
writes in FOLLOW_INTERVAL_S, or some are skipped."""


class EnvironmentUp(BaseModel):
    """An environment to create."""

    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(min_length=1, description="Declared in andon.yaml, or a new copy's.")
    artifact: str | None = Field(
        default=None, description="The artifact's digest or a unique prefix of it."
    )
    commit: str | None = Field(default=None, description="Run the artifact of this commit.")
    from_: str | None = Field(
        default=None, alias="from", description="Copy this environment (ephemeral)."
    )
    ttl: str | None = Field(default=None, description="Remove it after this long, e.g. 2h.")


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def _lifecycle(request: Request) -> EnvironmentLifecycle:
    return request.app.state.lifecycle  # type: ignore[no-any-return]


def _operations(request: Request) -> EnvironmentOperations:
    return request.app.state.operations  # type: ignore[no-any-return]


def _now() -> datetime:
    return datetime.now(UTC)


def operations_view(operations: EnvironmentOperations, project: str, name: str) -> dict[str, Any]:
    """The environment's last operations, with its steps, and whether one runs.

    Taken before its record is read: an operation writes the record before it ends, so
    a record read after an ended operation always shows what it did.
    """
    history = operations.history(project, name)
    return {
        "operation": history[-1].to_dict() if history else None,
        "operations": [operation.to_dict() for operation in history],
        "busy": any(operation.running for operation in history),
    }


def environment_dict(
    record: EnvironmentRecord, view: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The API's view of an environment: its record, its age and time left, and its last
    operations (from :func:`operations_view`)."""
    data = record.to_dict()
    data["age_seconds"] = round((now - record.created_at).total_seconds(), 3)
    left = record.expires_at - now if record.expires_at is not None else None
    data["ttl_seconds"] = None if left is None else round(max(left.total_seconds(), 0.0), 3)
    data.update(view)
    return data


@router.get("/projects/{project}/environments")
def list_environments(
    project: str,
    request: Request,
    include_destroyed: bool = Query(
        default=False, alias="all", description="Include destroyed environments."
    ),
) -> list[dict[str, Any]]:
    """The environments of a project, by name."""
    store, operations = _store(request), _operations(request)
    store.projects.get(project)
    names = {record.name for record in store.environments.list(project)}
    views = {name: operations_view(operations, project, name) for name in names}
    now = _now()
    return [
        environment_dict(record, views.get(record.name) or _idle(), now)
        for record in store.environments.list(project)
        if include_destroyed or record.status is not EnvironmentStatus.DESTROYED
    ]


@router.post("/projects/{project}/environments", status_code=202)
async def create_environment(project: str, body: EnvironmentUp, request: Request) -> dict[str, Any]:
    """Create an environment: declared in andon.yaml at the artifact's version, or (with
    ``from``) an ephemeral copy of one that expires after ``ttl``. The artifact is the one
    named, that of ``commit``, or that of the last green pipeline on trunk."""
    lifecycle, operations = _lifecycle(request), _operations(request)
    operations.check_idle(project, body.name)
    ttl = _duration(body.ttl)
    order = await asyncio.to_thread(
        lifecycle.compose,
        project=project,
        name=body.name,
        artifact=body.artifact,
        commit=body.commit,
        copy_from=body.from_,
        ttl=ttl,
    )
    _ask_the_line(_store(request), order)
    record = await asyncio.to_thread(lifecycle.begin, order)
    operations.start(project, order.name, "up", lambda progress: lifecycle.up(order, progress))
    return environment_dict(record, operations_view(operations, project, order.name), _now())


@router.get("/projects/{project}/environments/{name}")
async def show_environment(project: str, name: str, request: Request) -> dict[str, Any]:
    """One environment: its record and steps, and what runs of it now with its health."""
    lifecycle = _lifecycle(request)
    view = operations_view(_operations(request), project, name)
    record = await asyncio.to_thread(lifecycle.get, project, name)
    data = environment_dict(record, view, _now())
    data["instances"], data["health"] = None, "none"
    if record.status is EnvironmentStatus.DESTROYED:
        return data
    try:
        statuses = await lifecycle.instances(record)
    except AndonError as exc:
        data["health"] = "unknown"
        data["instances_error"] = exc.message
        return data
    data["instances"] = [_instance(record, status) for status in statuses]
    data["health"] = _health(statuses, await asyncio.to_thread(_declared_count, lifecycle, record))
    return data


@router.delete("/projects/{project}/environments/{name}", status_code=202)
async def destroy_environment(project: str, name: str, request: Request) -> dict[str, Any]:
    """Destroy an environment: its instances stopped, its database dropped, its files
    removed; the record stays, ``destroyed``. Failed ones are cleaned up the same way."""
    lifecycle, operations = _lifecycle(request), _operations(request)
    operations.check_idle(project, name)
    record = await asyncio.to_thread(lifecycle.begin_down, project, name)
    operations.start(
        project, name, "down", lambda progress: lifecycle.down(project, name, progress)
    )
    return environment_dict(record, operations_view(operations, project, name), _now())


@router.post("/projects/{project}/environments/{name}/recreate", status_code=202)
async def recreate_environment(project: str, name: str, request: Request) -> dict[str, Any]:
    """Destroy the environment and build it again from its declaration: the same
    artifact, andon.yaml at the same version, the same copy and expiry, the same URL."""
    lifecycle, operations = _lifecycle(request), _operations(request)
    operations.check_idle(project, name)
    record = await asyncio.to_thread(lifecycle.get, project, name)
    if record.status is EnvironmentStatus.DESTROYED:
        raise ConflictError(
            f"environment {name} of {project} is destroyed; 'andon env up {name}' creates it."
        )
    order = await asyncio.to_thread(lifecycle.order_of, record)
    _ask_the_line(_store(request), order)
    port = record.router_port
    record = await asyncio.to_thread(lifecycle.begin_down, project, name)

    async def recreate(progress: Any) -> EnvironmentRecord:
        await lifecycle.down(project, name, progress)
        await asyncio.to_thread(lifecycle.begin, order, port=port)
        return await lifecycle.up(order, progress)

    operations.start(project, name, "recreate", recreate)
    return environment_dict(record, operations_view(operations, project, name), _now())


@router.post("/projects/{project}/environments/{name}/drift")
async def check_drift(project: str, name: str, request: Request) -> dict[str, Any]:
    """Check the environment for drift now: how what runs differs from what its deploy
    declared (release files, rendered config, commands, variables, instance counts,
    applied migrations). Recorded, and answered with each difference."""
    lifecycle = _lifecycle(request)
    items = await lifecycle.check_drift(project, name)
    record = await asyncio.to_thread(lifecycle.get, project, name)
    return {
        "project": project,
        "environment": name,
        "checked_at": record.to_dict()["drift_checked_at"],
        "drift": [item.to_dict() for item in items],
    }


@router.get("/projects/{project}/environments/{name}/diff/{other}")
async def diff_environments(
    project: str, name: str, other: str, request: Request
) -> dict[str, Any]:
    """How two environments differ: version, artifact, config values, secrets (set or
    not, same or not; never their values), instance counts, schema version."""
    lifecycle = _lifecycle(request)
    left = await asyncio.to_thread(lifecycle.get, project, name)
    right = await asyncio.to_thread(lifecycle.get, project, other)
    differences = assess_difference(await lifecycle.snapshot(left), await lifecycle.snapshot(right))
    return {
        "project": project,
        "left": name,
        "right": other,
        "differences": [difference.to_dict() for difference in differences],
    }


@router.get(
    "/projects/{project}/environments/{name}/logs",
    response_model=None,
    response_class=Response,
    responses=LOG_RESPONSES,
)
async def environment_logs(
    project: str,
    name: str,
    request: Request,
    *,
    process: str | None = None,
    version: str | None = None,
    tail: int = Query(default=200, ge=1, le=10_000),
    follow: bool = False,
) -> PlainTextResponse | StreamingResponse:
    """The logs of an environment's instances (of one process or version), each line
    prefixed with its instance when there are several; ``migrate``, ``seed`` and
    ``smoke`` as the process give those steps' logs. Secrets are masked. With
    ``follow=true``, a Server-Sent Events stream of new lines."""
    lifecycle = _lifecycle(request)
    record = await asyncio.to_thread(lifecycle.get, project, name)
    if not follow:
        found = await lifecycle.logs(record, process=process, version=version, tail=tail)
        return PlainTextResponse("".join(f"{line}\n" for line in _joined(found)))
    # Followed logs are compared tail with tail, always of the same length.
    seen = await lifecycle.logs(record, process=process, version=version, tail=FOLLOW_TAIL)
    return StreamingResponse(
        _follow(lifecycle, record, seen, tail, process=process, version=version),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _follow(
    lifecycle: EnvironmentLifecycle,
    record: EnvironmentRecord,
    seen: dict[str, list[str]],
    tail: int,
    *,
    process: str | None,
    version: str | None,
) -> AsyncIterator[str]:
    """The last ``tail`` lines, then new ones as they come, until the environment goes."""
    for line in _joined({key: lines[-tail:] for key, lines in seen.items()}):
        yield f"data: {line}\n\n"
    while True:
        await asyncio.sleep(FOLLOW_INTERVAL_S)
        try:
            current = await asyncio.to_thread(lifecycle.get, record.project, record.name)
            if current.status is EnvironmentStatus.DESTROYED:
                break
            found = await lifecycle.logs(
                current, process=process, version=version, tail=FOLLOW_TAIL
            )
        except AndonError as exc:
            yield f"event: end\ndata: {json.dumps({'reason': exc.message})}\n\n"
            return
        fresh = {key: new_lines(seen.get(key, []), lines) for key, lines in found.items()}
        seen = found
        for line in _joined(fresh, always_prefix=len(found) > 1):
            yield f"data: {line}\n\n"
    yield f"event: end\ndata: {json.dumps({'reason': 'the environment was destroyed'})}\n\n"


def _idle() -> dict[str, Any]:
    return {"operation": None, "operations": [], "busy": False}


def new_lines(old: list[str], new: list[str]) -> list[str]:
    """The lines of the later tail ``new`` that the earlier tail ``old`` did not have:
    after the longest end of ``old`` that ``new`` starts with."""
    for overlap in range(min(len(old), len(new)), 0, -1):
        if old[-overlap:] == new[:overlap]:
            return new[overlap:]
    return new


def _joined(found: dict[str, list[str]], *, always_prefix: bool = False) -> list[str]:
    if len(found) == 1 and not always_prefix:
        return next(iter(found.values()))
    return [f"[{name}] {line}" for name, lines in found.items() for line in lines]


def _ask_the_line(store: Store, order: EnvironmentOrder) -> None:
    """ConflictError with the line's reason when a protected environment may not get
    the order's artifact now."""
    if not order.environment.protected:
        return
    green = store.pipelines.last_green_on_trunk(order.project)
    refusal = assess_promotion(
        line_view(store, order.project),
        environment=order.name,
        protected=True,
        artifact_pipeline_id=order.artifact_pipeline_id,
        last_green_pipeline_id=green.id if green else None,
        now=_now(),
    )
    if refusal is not None:
        raise ConflictError(refusal.message)


def _duration(text: str | None) -> timedelta | None:
    return None if text is None else parse_span(text, "--ttl")


def _instance(record: EnvironmentRecord, status: InstanceStatus) -> dict[str, Any]:
    return {
        "name": instance_name(record.project, record.name, status.id),
        "id": status.id,
        "process": status.process,
        "version": status.version,
        "phase": status.phase.value,
        "message": status.message,
        "port": status.port,
        "pid": status.pid,
        "restarts": status.restarts,
        "url": f"http://127.0.0.1:{status.port}",
    }


def _declared_count(lifecycle: EnvironmentLifecycle, record: EnvironmentRecord) -> int | None:
    try:
        order = lifecycle.order_of(record)
    except AndonError:
        return None
    return len(plan_instances(order.spec, order.environment))


def _health(statuses: list[InstanceStatus], declared: int | None) -> str:
    """``healthy`` when every declared instance serves, ``degraded`` when some do,
    ``down`` when none does."""
    wanted = len(statuses) if declared is None else declared
    serving = sum(1 for status in statuses if status.serving)
    if wanted == 0:
        return "healthy"
    if serving >= wanted:
        return "healthy"
    return "degraded" if serving else "down"
