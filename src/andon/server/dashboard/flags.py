"""``/flags``: every environment's feature flags — what each serves now, toggles, the
share rolled out, the variant served, kill and restore — and one flag's guards, history
and the fleet's convergence to its last change.

Changes are plain forms through :class:`~andon.server.flagging.FlagService`, as ``andon
flags set/kill/restore`` make them; they need the deployer role and are audited under
the API's names (``flags.set_flag``, ``flags.kill_flag``, ``flags.restore_flag``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from andon.errors import AndonError, UsageError
from andon.server.access import note
from andon.server.api.flags import flag_view
from andon.server.dashboard._web import (
    Viewer,
    page,
    read_form,
    redirect,
    render,
    safe_back,
    signed_in,
    store_of,
)
from andon.server.experimenting import split_weights
from andon.server.flag_edits import FlagEdit, Who
from andon.server.flagging import FlagService
from andon.store import EnvironmentStatus, FlagSetRecord, Role

router = APIRouter(include_in_schema=False)

_FLAGS = "/projects/{project}/environments/{environment}/flags"


def _service(request: Request) -> FlagService:
    return request.app.state.flags  # type: ignore[no-any-return]


def flags_index(request: Request, viewer: Viewer) -> dict[str, Any]:
    """Each environment of the projects the viewer may see, with its flags in short."""
    store, service = store_of(request), _service(request)
    sets = []
    for project in viewer.projects(store):
        for record in store.environments.list(project.name):
            if record.status is EnvironmentStatus.DESTROYED:
                continue
            found = service.get(project.name, record.name)
            flags = found.content.document.get("flags", {})
            sets.append(
                {
                    "project": project.name,
                    "environment": record.name,
                    "version": found.version,
                    "flags": sorted(flags),
                    "killed": sorted(found.content.held),
                }
            )
    return {"sets": sets}


def environment_flags(
    request: Request, viewer: Viewer, project: str, environment: str
) -> dict[str, Any]:
    """An environment's flags with what each serves now, and the recent changes."""
    viewer.check(project, Role.VIEWER, "see these flags")
    service = _service(request)
    service.check_environment(project, environment)
    record = service.get(project, environment)
    published = service.published(project, environment)
    flags = []
    for key, definition in record.content.document.get("flags", {}).items():
        served = published.flag_set.evaluate(key, None, {})
        flags.append(
            {
                "key": key,
                "state": definition.get("state", "ENABLED"),
                "default": definition.get("defaultVariant"),
                "variants": definition.get("variants", {}),
                "targeted": bool(definition.get("targeting")),
                "split": split_weights(definition),
                "killed": record.content.held.get(key, {}).get("by") == "kill",
                "held": key in record.content.held,
                "guards": len(record.content.guards.get(key, [])),
                "conflict": key in record.content.conflicts,
                "served": {
                    "value": served.value,
                    "variant": served.variant,
                    "reason": served.reason.value,
                },
            }
        )
    return {
        "project": project,
        "environment": environment,
        "version": record.version,
        "flags": flags,
        "history": service.history(project, environment, limit=20),
        "convergence": service.reports.convergence(project, environment, record.version),
        "may_act": viewer.may(project, Role.DEPLOYER),
    }


def flag_detail(
    request: Request, viewer: Viewer, project: str, environment: str, key: str
) -> dict[str, Any]:
    """One flag: definition, declaration and conflict, guards, convergence, history."""
    viewer.check(project, Role.VIEWER, "see this flag")
    service = _service(request)
    service.check_environment(project, environment)
    view = flag_view(service, service.get(project, environment), key)
    return {
        "project": project,
        "environment": environment,
        "flag": view,
        "history": service.history(project, environment, flag=key, limit=50),
        "may_act": viewer.may(project, Role.DEPLOYER),
    }


@router.get("/flags", response_class=HTMLResponse)
def index(request: Request, viewer: Annotated[Viewer, Depends(signed_in)]) -> HTMLResponse:
    """Every environment's flags."""
    return page(request, viewer, "flags_index.html", lambda: flags_index(request, viewer))


@router.get(_FLAGS, response_class=HTMLResponse)
def flags(
    request: Request,
    project: str,
    environment: str,
    viewer: Annotated[Viewer, Depends(signed_in)],
) -> HTMLResponse:
    """An environment's flags, with their controls."""
    return page(
        request,
        viewer,
        "flags.html",
        lambda: environment_flags(request, viewer, project, environment),
    )


@router.get(f"{_FLAGS}/{{key}}", response_class=HTMLResponse)
def flag(
    request: Request,
    project: str,
    environment: str,
    key: str,
    viewer: Annotated[Viewer, Depends(signed_in)],
) -> HTMLResponse:
    """One flag: guards, history, convergence."""
    return page(
        request,
        viewer,
        "flag.html",
        lambda: flag_detail(request, viewer, project, environment, key),
    )


@router.post(f"{_FLAGS}/{{key}}/set", response_model=None)
async def set_flag(
    request: Request,
    project: str,
    environment: str,
    key: str,
    viewer: Annotated[Viewer, Depends(signed_in)],
) -> Response:
    """Turn a flag on or off, roll it out to a share, or serve one variant."""
    fields = await read_form(request, viewer)

    def change(service: FlagService, who: Who) -> tuple[FlagSetRecord, str]:
        edit = _edit(fields)
        done = []
        if edit.enabled is not None:
            done.append("turned on" if edit.enabled else "turned off")
        if edit.rollout is not None:
            done.append(f"rolled out to {edit.rollout:g}%")
        if edit.variant is not None:
            done.append(f"set to serve {edit.variant}")
        return service.edit(project, environment, key, edit, who), " and ".join(done)

    return await _change(
        request, viewer, fields, change, project=project, environment=environment, key=key
    )


@router.post(f"{_FLAGS}/{{key}}/{{action}}", response_model=None)
async def kill_or_restore_flag(
    request: Request,
    *,
    project: str,
    environment: str,
    key: str,
    action: Literal["kill", "restore"],
    viewer: Annotated[Viewer, Depends(signed_in)],
) -> Response:
    """kill: serve the flag's off-variant everywhere until restored; restore: bring back
    what ran before the kill."""
    fields = await read_form(request, viewer)

    def change(service: FlagService, who: Who) -> tuple[FlagSetRecord, str]:
        if action == "kill":
            return service.kill(project, environment, key, who), "killed"
        return service.restore(project, environment, key, who), "restored"

    return await _change(
        request,
        viewer,
        fields,
        change,
        project=project,
        environment=environment,
        key=key,
        action=f"flags.{action}_flag",  # as the API's route names it
    )


def _edit(fields: dict[str, str]) -> FlagEdit:
    """The edit a form asks for; UsageError in a sentence for what cannot be read."""
    on = fields.get("on", "").strip().lower()
    rollout = fields.get("rollout", "").strip().removesuffix("%")
    variant = fields.get("variant", "").strip()
    enabled = {"true": True, "on": True, "false": False, "off": False}.get(on) if on else None
    if on and enabled is None:
        raise UsageError(f"'{on}' is neither on nor off.")
    percent = None
    if rollout:
        try:
            percent = float(rollout)
        except ValueError:
            raise UsageError(
                f"'{rollout}' is not a percentage; give a number from 0 to 100."
            ) from None
    if enabled is None and percent is None and not variant:
        raise UsageError("say what to set: on or off, a rollout percentage, or a variant.")
    return FlagEdit(variant=variant or None, enabled=enabled, rollout=percent)


async def _change(
    request: Request,
    viewer: Viewer,
    fields: dict[str, str],
    change: Callable[[FlagService, Who], tuple[FlagSetRecord, str]],
    *,
    project: str,
    environment: str,
    key: str,
    action: str = "",
) -> Response:
    back = safe_back(fields.get("next"), _FLAGS.format(project=project, environment=environment))
    service = _service(request)
    who = Who(viewer.name, fields.get("reason", "").strip()[:1000])

    def act() -> tuple[FlagSetRecord, str]:
        viewer.check(project, Role.DEPLOYER, f"change flag {key}")
        service.check_environment(project, environment)
        return change(service, who)

    try:
        record, done = await asyncio.to_thread(act)
    except AndonError as exc:
        # Nothing was done: the audit trail must not record it as done.
        request.state.principal = None
        try:
            context = await asyncio.to_thread(
                environment_flags, request, viewer, project, environment
            )
        except AndonError:
            context = None
        if context is None:
            return await asyncio.to_thread(
                render,
                request,
                viewer,
                "error.html",
                {"message": exc.message, "status": exc.http_status},
                status=exc.http_status,
            )
        context["error"] = exc.message
        return await asyncio.to_thread(
            render, request, viewer, "flags.html", context, status=exc.http_status
        )
    note(
        request,
        target=f"projects/{project}/environments/{environment}/flags/{key}",
        after={"via": "dashboard", "done": done, "version": record.version},
        action=action,
    )
    viewer.session.flash(
        "ok", f"Flag {key} in {environment} {done} (flag set version {record.version})."
    )
    return redirect(back)
