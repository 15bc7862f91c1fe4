"""The buttons of an environment's page that steer its rollout: approve, promote (a step
or fully), pause, resume, abort, retry, and undo — posted as plain forms, answered with
a redirect back to the page (or the page with the refusal, at its status).

They go through :class:`~andon.server.deploys.Deploys` exactly as the API's rollout
commands do (four eyes included: whoever asked for a rollout cannot approve it), need
the deployer role, and are recorded in the audit trail under the API's names
(``rollouts.command.approve``, ``rollouts.undo``), noted as made in the dashboard.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from andon.errors import AndonError, NotFoundError
from andon.rollout import CommandKind
from andon.server.access import note
from andon.server.dashboard._web import Viewer, read_form, redirect, signed_in
from andon.server.dashboard.environments import environment_page
from andon.server.deploys import Deploys
from andon.server.rolling_out import RolloutController
from andon.store import Role, RolloutRecord, RolloutStatus

router = APIRouter(include_in_schema=False)
log = logging.getLogger("andon.server.dashboard")

_BASE = "/projects/{project}/environments/{environment}/rollout"
_DONE = {
    "approve": "approved",
    "promote": "promoted",
    "promote_full": "promoted fully",
    "pause": "paused",
    "resume": "resumed",
    "abort": "aborted",
    "retry": "retried",
    "undo": "undid",
}


@router.post(f"{_BASE}/{{verb}}", response_model=None)
async def command(
    request: Request,
    project: str,
    environment: str,
    verb: str,
    viewer: Annotated[Viewer, Depends(signed_in)],
) -> Response:
    """approve, promote, promote_full, pause, resume, abort or retry the rollout, or
    undo it (back to the last known good release)."""
    fields = await read_form(request, viewer)
    return await _steer(
        request,
        viewer,
        project=project,
        environment=environment,
        verb=verb,
        reason=fields.get("reason", ""),
    )


async def _steer(
    request: Request, viewer: Viewer, *, project: str, environment: str, verb: str, reason: str
) -> Response:
    deploys: Deploys = request.app.state.deploys
    page = f"/projects/{project}/environments/{environment}"
    try:
        viewer.check(project, Role.DEPLOYER, f"{verb.replace('_', ' ')} a rollout")
        if verb == "undo":
            record = deploys.undo(project, environment, by=viewer.name)
        else:
            try:
                kind = CommandKind(verb)
            except ValueError:
                raise NotFoundError(f"there is no rollout command {verb!r}.") from None
            record = deploys.command(
                project, environment, kind, by=viewer.name, reason=reason.strip()[:1000]
            )
    except AndonError as exc:
        # Nothing was done: the audit trail must not record it as done.
        request.state.principal = None
        return await environment_page(
            request, viewer, project, environment, error=exc.message, status=exc.http_status
        )
    record = await _act_now(request, record)
    note(
        request,
        target=f"projects/{project}/environments/{environment}/rollout/{verb}",
        after={"via": "dashboard", "rollout": record.id, "status": record.status.value},
    )
    viewer.session.flash(
        "ok", f"You {_DONE.get(verb, verb)} rollout #{record.id} of {environment}."
    )
    return redirect(page)


async def _act_now(request: Request, record: RolloutRecord) -> RolloutRecord:
    """Tick the rollout at once, as the API does, so that the page shown next has it."""
    if record.status.finished or record.status is RolloutStatus.QUEUED:
        return record
    controller: RolloutController = request.app.state.rollouts
    try:
        return await controller.tick(record.id)
    except Exception:  # the controller's loop ticks it again, and logs why
        log.exception("rollout %d could not tick at once", record.id)
        return record
