"""``/environments`` and ``/projects/{p}/environments/{e}``: each environment's version,
instances, health and drift, and on an environment's page its rollout live — phase,
steps, traffic, canary beside stable for each metric of the analysis, the decision log
with its sentences — with the buttons that steer it (posted to
:mod:`~andon.server.dashboard.rollouts`).

The environment's page has two live regions refreshed over
``/events/projects/{p}/environments/{e}``: the instances and the rollout.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from andon.environments import EnvironmentLifecycle
from andon.errors import AndonError
from andon.rollout import RolloutState
from andon.server.api.rollouts import rollout_view
from andon.server.dashboard import svg
from andon.server.dashboard._web import Viewer, error_page, render, signed_in, store_of
from andon.store import EnvironmentRecord, EnvironmentStatus, Role, RolloutRecord, Store

router = APIRouter(include_in_schema=False)

_LABELS = {
    "approve": "Approve",
    "promote": "Promote (next step)",
    "promote_full": "Promote fully",
    "pause": "Pause",
    "resume": "Resume",
    "abort": "Abort",
    "retry": "Retry",
    "undo": "Undo (back to the last good release)",
}


def _lifecycle(request: Request) -> EnvironmentLifecycle:
    return request.app.state.lifecycle  # type: ignore[no-any-return]


async def instances_context(
    lifecycle: EnvironmentLifecycle, record: EnvironmentRecord
) -> dict[str, Any]:
    """What runs of the environment now and how healthy it is: ``healthy`` when every
    instance serves, ``degraded`` when some do, ``down`` when none does."""
    if record.status is EnvironmentStatus.DESTROYED:
        return {"instances": [], "health": "none", "instances_error": None}
    try:
        statuses = await lifecycle.instances(record)
    except AndonError as exc:
        return {"instances": [], "health": "unknown", "instances_error": exc.message}
    serving = sum(1 for status in statuses if status.serving)
    health = "healthy" if serving == len(statuses) else "degraded" if serving else "down"
    return {
        "instances": statuses,
        "health": health if statuses else "none",
        "serving": serving,
        "instances_error": None,
    }


async def environments_context(request: Request, viewer: Viewer) -> dict[str, Any]:
    """Every environment of the projects the viewer may see, with instances and health."""
    store, lifecycle = store_of(request), _lifecycle(request)
    projects = await asyncio.to_thread(viewer.projects, store)
    found = []
    for project in projects:
        records = await asyncio.to_thread(store.environments.list, project.name)
        live = [r for r in records if r.status is not EnvironmentStatus.DESTROYED]
        seen = await asyncio.gather(*(instances_within(lifecycle, r) for r in live))
        rollouts = await asyncio.to_thread(_active_rollouts, store, project.name)
        found.append(
            {
                "name": project.name,
                "environments": [
                    {"record": r, **s, "rollout": rollouts.get(r.name)}
                    for r, s in zip(live, seen, strict=True)
                ],
            }
        )
    return {"projects": found}


async def instances_within(
    lifecycle: EnvironmentLifecycle, record: EnvironmentRecord
) -> dict[str, Any]:
    """:func:`instances_context`, or health ``unknown`` when the runtime does not answer
    within 5 s: one agent that does not answer must not hold the whole page."""
    try:
        return await asyncio.wait_for(instances_context(lifecycle, record), timeout=5)
    except TimeoutError:
        return {
            "instances": [],
            "health": "unknown",
            "instances_error": "the agent did not answer.",
        }


def _active_rollouts(store: Store, project: str) -> dict[str, RolloutRecord]:
    found: dict[str, RolloutRecord] = {}
    for record in store.rollouts.unfinished():
        if record.project == project:
            found.setdefault(record.environment, record)
    return found


def rollout_context(store: Store, project: str, environment: str) -> dict[str, Any]:
    """The rollout under way (else the latest) as the page draws it, and the history."""
    records = store.rollouts.list(project=project, environment=environment, limit=10)
    active = store.rollouts.active(project, environment)
    current = active or (records[0] if records else None)
    if current is None:
        return {"rollout": None, "history": [], "verbs": [], "charts": {}}
    view = rollout_view(current)
    state = RolloutState.from_dict(current.state["rollout"])
    finished = current.status.finished
    view["awaiting_approval"] = (
        bool(view["plan"].get("requires_approval")) and not state.approved and not finished
    )
    canary = view.get("to_version")
    charts = {
        "traffic": svg.traffic_chart(view["traffic"]["weights"], canary)
        if view["traffic"]["weights"]
        else None,
        "metrics": {row["metric"]: svg.metric_charts(row) for row in view["metrics"]},
    }
    return {
        "rollout": view,
        "history": [r for r in records if r.id != current.id],
        "verbs": [(verb, _LABELS[verb]) for verb in _verbs(view, state)],
        "charts": charts,
    }


def _verbs(view: dict[str, Any], state: RolloutState) -> list[str]:
    """The commands that make sense for the rollout now (the engine still judges each)."""
    if view["status"] in {"succeeded", "rolled_back", "aborted", "failed"}:
        return ["undo"] if view["status"] == "succeeded" else ["retry", "undo"]
    if view["status"] == "queued":
        return ["abort"]
    if view["awaiting_approval"]:
        return ["approve", "abort"]
    held = "resume" if state.phase.value == "paused" else "pause"
    return ["promote", "promote_full", held, "abort", "undo"]


async def environment_context(
    request: Request, viewer: Viewer, project: str, environment: str
) -> dict[str, Any]:
    """The environment's record, instances and rollout."""
    store, lifecycle = store_of(request), _lifecycle(request)
    viewer.check(project, Role.VIEWER, "see this environment")
    record = await asyncio.to_thread(lifecycle.get, project, environment)
    seen = await instances_within(lifecycle, record)
    rollout = await asyncio.to_thread(rollout_context, store, project, environment)
    return {
        "project": project,
        "environment": record,
        **seen,
        **rollout,
        "may_act": viewer.may(project, Role.DEPLOYER),
        "environment_name": environment,
        "now": datetime.now(UTC),
        "live": f"/events/projects/{project}/environments/{environment}",
    }


async def environment_page(
    request: Request,
    viewer: Viewer,
    project: str,
    environment: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The environment's page, with ``error`` said at its top (an action refused)."""
    try:
        context = await environment_context(request, viewer, project, environment)
    except AndonError as exc:
        return error_page(request, viewer, exc.message, exc.http_status)
    context["error"] = error
    return await asyncio.to_thread(
        render, request, viewer, "environment.html", context, status=status
    )


@router.get("/environments", response_class=HTMLResponse)
async def environments(
    request: Request, viewer: Annotated[Viewer, Depends(signed_in)]
) -> HTMLResponse:
    """Every environment: version, instances, health, drift."""
    try:
        context = await environments_context(request, viewer)
    except AndonError as exc:
        return error_page(request, viewer, exc.message, exc.http_status)
    return await asyncio.to_thread(render, request, viewer, "environments.html", context)


@router.get("/projects/{project}/environments/{environment}", response_class=HTMLResponse)
async def environment(
    request: Request,
    project: str,
    environment: str,
    viewer: Annotated[Viewer, Depends(signed_in)],
) -> HTMLResponse:
    """One environment and its rollout."""
    return await environment_page(request, viewer, project, environment)
