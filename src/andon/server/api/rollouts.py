"""``/api/v1/projects/{project}/environments/{environment}/rollouts``: deployments —
start one (``andon deploy``), look at the one under way (steps, traffic, instances, the
analysis and the decision log), pass it a command (promote, pause, resume, abort, retry,
approve), undo, and read the history.

A deploy answers 201 with the rollout as recorded; the rollout controller drives it from
there. Every refusal (the environment is not up, the artifact does not verify, the line
is stopped for a protected environment, another rollout holds the lock, a command the
rollout cannot take now) answers one sentence saying what to do.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from andon.analysis import summarize_run
from andon.errors import NotFoundError
from andon.rollout import CommandKind, RolloutState
from andon.server.access import actor
from andon.server.api._shared import JSONRoute, RecordId
from andon.server.deploys import DeployRequest, Deploys
from andon.server.rolling_out import RolloutController
from andon.server.rollout_records import old_release
from andon.spec import Strategy
from andon.store import RolloutRecord, RolloutStatus, Store

router = APIRouter(tags=["rollouts"], route_class=JSONRoute)
log = logging.getLogger("andon.server.rollouts")

_BASE = "/projects/{project}/environments/{environment}"


class DeployBody(BaseModel):
    """A release to deploy."""

    artifact: str | None = Field(default=None, description="An artifact digest or prefix.")
    commit: str | None = Field(default=None, description="Deploy the artifact of this commit.")
    strategy: Strategy | None = Field(default=None, description="Override andon.yaml's.")
    queue: bool = Field(default=False, description="Wait behind a rollout under way.")
    by: str = Field(default="", max_length=200, description="Ignored: the token's user asks.")
    break_glass: str = Field(
        default="", max_length=1000, description="Deploy through a freeze window, saying why."
    )


class CommandBody(BaseModel):
    """Who asks, and why."""

    by: str = Field(default="", max_length=200, description="Ignored: the token's user asks.")
    reason: str = Field(default="", max_length=1000)
    full: bool = Field(default=False, description="promote: go to 100% now.")


def _deploys(request: Request) -> Deploys:
    return request.app.state.deploys  # type: ignore[no-any-return]


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def rollout_view(record: RolloutRecord) -> dict[str, Any]:
    """A rollout for the API: its record without the engine's internals, and the engine's
    state as people read it (phase, step, traffic, instances, pause, analysis and each
    metric's figures per version, decisions)."""
    data = record.to_dict()
    # A rollout that waited in the queue goes over what ran when its turn came.
    data["from_version"], data["from_artifact"], data["commits"] = old_release(record)
    document = data.pop("state")
    state = RolloutState.from_dict(document["rollout"])
    plan = document["plan"]
    data["plan"] = plan
    data["phase"] = state.phase.value
    data["attempt"] = state.attempt
    data["step_index"] = state.step_index
    data["steps"] = plan.get("steps", [])
    data["traffic"] = state.traffic.to_dict()
    data["pause"] = state.pause.to_dict() if state.pause is not None else None
    data["analysis"] = document.get("analysis")
    data["metrics"] = summarize_run(data["analysis"]) if data["analysis"] else []
    data["instances"] = document.get("seen", {})
    data["verdict"] = document.get("verdict")
    data["decisions"] = [decision.to_dict() for decision in state.decisions]
    data["pending_commands"] = document.get("commands", [])
    # Finished is decided before its last actions (stopping the old version, recording
    # the environment's new release) are applied; settled is once they are.
    data["settled"] = record.status.finished and not document.get("pending")
    data["checks"] = document.get("results", {})
    return data


@router.post(f"{_BASE}/rollouts", status_code=201)
async def deploy(project: str, environment: str, body: DeployBody, request: Request) -> Any:
    """Deploy a release: the artifact given, that of a commit, or the last green one."""
    record = await _deploys(request).deploy(
        DeployRequest(
            project=project,
            environment=environment,
            artifact=body.artifact,
            commit=body.commit,
            strategy=body.strategy,
            queue=body.queue,
            by=actor(request),
            break_glass=body.break_glass,
        )
    )
    return rollout_view(record)


@router.get(f"{_BASE}/rollouts")
def history(
    project: str,
    environment: str,
    request: Request,
    limit: int = Query(default=20, ge=1, le=200),
) -> list[dict[str, Any]]:
    """The environment's rollouts, newest first."""
    _deploys(request).lifecycle.get(project, environment)
    records = _store(request).rollouts.list(project=project, environment=environment, limit=limit)
    return [rollout_view(record) for record in records]


@router.get(f"{_BASE}/rollout")
def current(project: str, environment: str, request: Request) -> dict[str, Any]:
    """The rollout under way, else the latest."""
    return rollout_view(_deploys(request).current(project, environment))


@router.get("/rollouts/{rollout_id}")
def one(rollout_id: RecordId, request: Request) -> dict[str, Any]:
    """One rollout by number."""
    try:
        record = _store(request).rollouts.get(rollout_id)
    except NotFoundError:
        raise NotFoundError(
            f"there is no rollout #{rollout_id}; 'andon rollout history ENV' lists an "
            "environment's rollouts."
        ) from None
    return rollout_view(record)


@router.post(f"{_BASE}/rollout/undo")
async def undo(
    project: str, environment: str, body: CommandBody, request: Request
) -> dict[str, Any]:
    """Back to the last known good release; while the old version is still warm, traffic
    is back on it when this answers."""
    record = _deploys(request).undo(project, environment, by=actor(request))
    return rollout_view(await _act_now(request, record))


@router.post(f"{_BASE}/rollout/{{verb}}")
async def command(
    project: str, environment: str, verb: str, body: CommandBody, request: Request
) -> dict[str, Any]:
    """promote, pause, resume, abort, retry or approve the rollout under way."""
    try:
        kind = CommandKind(verb)
    except ValueError:
        verbs = ", ".join(k.value for k in CommandKind if k is not CommandKind.PROMOTE_FULL)
        raise NotFoundError(f"there is no rollout command {verb!r}; use one of {verbs}.") from None
    if kind is CommandKind.PROMOTE and body.full:
        kind = CommandKind.PROMOTE_FULL
    record = _deploys(request).command(
        project, environment, kind, by=actor(request), reason=body.reason
    )
    return rollout_view(await _act_now(request, record))


async def _act_now(request: Request, record: RolloutRecord) -> RolloutRecord:
    """Tick the rollout at once, so that a command (an abort, an undo) has taken effect
    when the answer leaves; the controller's loop would take up to its interval."""
    if record.status.finished or record.status is RolloutStatus.QUEUED:
        return record
    controller: RolloutController = request.app.state.rollouts
    try:
        return await controller.tick(record.id)
    except Exception:  # the controller's loop ticks it again, and logs why
        log.exception("rollout %d could not tick at once", record.id)
        return _store(request).rollouts.get(record.id)
