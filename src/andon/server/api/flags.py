"""``/api/v1/projects/{project}/environments/{environment}/flags``: an environment's
feature flags for people and the CLI — list them, look at one (what runs, what andon.yaml
declares and whether they conflict, its guards, how many SDKs serve its last change), set
one whole or by a convenience edit, kill and restore it, read the history, evaluate a flag
for a context, export the set for flagd, and manage the SDKs' client tokens.

Every change answers the flag as it now runs with the flag set's new version; an invalid
flag answers 422 with each problem in its place and stores nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from andon.errors import NotFoundError, UsageError
from andon.flags import FlagType
from andon.server.access import actor
from andon.server.api._shared import JSONRoute, RecordId
from andon.server.flag_edits import FlagEdit, Who, flag_entry
from andon.server.flagging import FlagService
from andon.store import FlagSetRecord

router = APIRouter(tags=["flags"], route_class=JSONRoute)

_FLAGS = "/projects/{project}/environments/{environment}/flags"
FLAGD_SCHEMA = "https://flagd.dev/schema/v0/flags.json"


class Change(BaseModel):
    """Who changes a flag, and why (for the history)."""

    by: str = Field(default="", max_length=200, description="Ignored: the token's user asks.")
    reason: str = Field(default="", max_length=1000, description="Why, for the history.")


class FlagBody(Change):
    """A whole flag: its flagd definition and, when given, its guards and experiment."""

    flag: dict[str, Any] = Field(description="state, variants, defaultVariant, targeting, metadata")
    guards: list[dict[str, Any]] | None = Field(default=None, description="Absent: unchanged.")
    experiment: dict[str, Any] | None = Field(default=None, description="Absent: unchanged.")


class SetBody(Change):
    """A convenience edit (``andon flags set``)."""

    variant: str | None = Field(default=None, description="Serve it to everyone.")
    on: bool | None = Field(default=None, description="ENABLED (true) or DISABLED (false).")
    rollout: float | None = Field(default=None, description="Percent to the on-variant.")
    segment: str | None = Field(default=None, description="On-variant for this segment.")


class EvaluateBody(BaseModel):
    """A context to evaluate a flag for."""

    context: dict[str, Any] = Field(default_factory=dict)
    default: Any = Field(default=None, description="The caller's default value.")
    type: FlagType | None = Field(default=None, description="The type the caller asks for.")


class TokenBody(BaseModel):
    """A client token to create."""

    name: str = Field(default="", max_length=200)


def _service(request: Request, project: str, environment: str) -> FlagService:
    service: FlagService = request.app.state.flags
    service.check_environment(project, environment)
    return service


def _who(body: Change, request: Request) -> Who:
    """The token's user (the body's ``by`` is not taken: the audit trail holds who)."""
    return Who(actor(request), body.reason.strip())


def flag_view(service: FlagService, record: FlagSetRecord, key: str) -> dict[str, Any]:
    """One flag as it runs, with what andon.yaml declares for it, its conflict, the kill
    or guard holding it, its guards' states and the fleet's convergence to its last
    change. NotFoundError for an unknown flag."""
    content = record.content
    entry = flag_entry(content, key)
    if entry is None:
        known = ", ".join(content.document.get("flags", {})) or "none yet"
        raise NotFoundError(
            f"there is no flag '{key}' in environment {record.environment} (its flags: "
            f"{known}); 'andon flags list' lists them."
        )
    project, environment = record.project, record.environment
    last = service.history(project, environment, flag=key, limit=1)
    conflict = content.conflicts.get(key)
    held = content.held.get(key)
    return {
        "key": key,
        "project": project,
        "environment": environment,
        "version": record.version,
        **entry,
        "declared": content.declared.get(key),
        "conflict": None if conflict is None else _conflict(conflict),
        "killed": held is not None and held.get("by") == "kill",
        "held": held,
        "guard_states": service.reports.guard_states(
            project, environment, key, entry["guards"], held
        ),
        "convergence": service.reports.convergence(
            project, environment, last[0].version if last else record.version
        ),
    }


def _conflict(conflict: dict[str, Any]) -> dict[str, Any]:
    declared = conflict.get("declared")
    said = "no longer declares it" if declared is None else "declares another definition"
    return {
        **conflict,
        "message": (
            f"andon.yaml {said} than what runs, which was changed by hand; the deploy by "
            f"{conflict.get('by')} left it. Set it again, or declare what runs, to end this."
        ),
    }


@router.get(_FLAGS)
def list_flags(project: str, environment: str, request: Request) -> dict[str, Any]:
    """The environment's flags, with the flag set's version and the fleet's convergence."""
    service = _service(request, project, environment)
    record = service.get(project, environment)
    content = record.content
    flags = []
    for key, definition in content.document.get("flags", {}).items():
        held = content.held.get(key)
        flags.append(
            {
                "key": key,
                "state": definition.get("state", "ENABLED"),
                "defaultVariant": definition.get("defaultVariant"),
                "variants": definition.get("variants", {}),
                "targeted": bool(definition.get("targeting")),
                "killed": held is not None and held.get("by") == "kill",
                "conflict": key in content.conflicts,
                "guards": len(content.guards.get(key, [])),
                "experiment": content.experiments.get(key),
            }
        )
    return {
        "project": project,
        "environment": environment,
        "version": record.version,
        "updated_at": record.to_dict()["updated_at"],
        "flags": flags,
        "convergence": service.reports.convergence(project, environment, record.version),
    }


@router.get(f"{_FLAGS}/history")
def set_history(
    project: str, environment: str, request: Request, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    """Every change of the environment's flags, newest first."""
    service = _service(request, project, environment)
    return [entry.to_dict() for entry in service.history(project, environment, limit=limit)]


@router.get(f"{_FLAGS}/export")
def export(
    project: str, environment: str, request: Request, format: str = "flagd"
) -> dict[str, Any]:
    """The flag set as a flagd flag-definition file (guards and experiments are Andon's
    and stay out)."""
    if format != "flagd":
        raise UsageError(f"flags export to {format!r} is not supported; use format=flagd.")
    service = _service(request, project, environment)
    document = service.get(project, environment).content.document
    # flagd's schema lets ``state`` be left out, but flagd's own Python provider refuses
    # a whole file with one such flag: every flag says it.
    flags = {
        key: {"state": "ENABLED", **definition}
        for key, definition in document.get("flags", {}).items()
    }
    return {"$schema": FLAGD_SCHEMA, **document, "flags": flags}


@router.post(f"{_FLAGS}/tokens", status_code=201)
def create_token(
    project: str, environment: str, body: TokenBody, request: Request
) -> dict[str, Any]:
    """A client token for the environment's SDKs, shown this once."""
    service = _service(request, project, environment)
    record, token = service.tokens.create(project, environment, body.name)
    return {**record.to_dict(), "token": token}


@router.get(f"{_FLAGS}/tokens")
def list_tokens(project: str, environment: str, request: Request) -> list[dict[str, Any]]:
    """The environment's client tokens (never the tokens themselves), revoked ones too."""
    service = _service(request, project, environment)
    return [record.to_dict() for record in service.store.flag_tokens.list(project, environment)]


@router.delete(f"{_FLAGS}/tokens/{{token_id}}")
def revoke_token(
    project: str, environment: str, token_id: RecordId, request: Request
) -> dict[str, Any]:
    """Revoke a client token: SDKs that use it are refused from now on."""
    service = _service(request, project, environment)
    return service.store.flag_tokens.revoke(project, environment, token_id).to_dict()


@router.get(f"{_FLAGS}/{{key}}")
def show_flag(project: str, environment: str, key: str, request: Request) -> dict[str, Any]:
    """One flag: what runs, what andon.yaml declares, conflict, guards, convergence."""
    service = _service(request, project, environment)
    return flag_view(service, service.get(project, environment), key)


@router.put(f"{_FLAGS}/{{key}}")
def put_flag(
    project: str, environment: str, key: str, body: FlagBody, request: Request
) -> dict[str, Any]:
    """Set a flag whole (and its guards and experiment, when given)."""
    service = _service(request, project, environment)
    entry: dict[str, Any] = {"flag": body.flag}
    for name in ("guards", "experiment"):
        if name in body.model_fields_set:
            entry[name] = getattr(body, name)
    record = service.put(project, environment, key, entry, _who(body, request))
    return flag_view(service, record, key)


@router.post(f"{_FLAGS}/{{key}}/set")
def set_flag(
    project: str, environment: str, key: str, body: SetBody, request: Request
) -> dict[str, Any]:
    """Change a flag: serve one variant, turn it on or off, roll it out to a share of
    targeting keys, or to a segment."""
    if body.variant is None and body.on is None and body.rollout is None and body.segment is None:
        raise UsageError("say what to set: a variant, on or off, a rollout or a segment.")
    service = _service(request, project, environment)
    edit = FlagEdit(
        variant=body.variant, enabled=body.on, rollout=body.rollout, segment=body.segment
    )
    record = service.edit(project, environment, key, edit, _who(body, request))
    return flag_view(service, record, key)


@router.post(f"{_FLAGS}/{{key}}/kill")
def kill_flag(
    project: str, environment: str, key: str, body: Change, request: Request
) -> dict[str, Any]:
    """Serve the flag's off-variant everywhere, its targeting set aside, until restored."""
    service = _service(request, project, environment)
    return flag_view(service, service.kill(project, environment, key, _who(body, request)), key)


@router.post(f"{_FLAGS}/{{key}}/restore")
def restore_flag(
    project: str, environment: str, key: str, body: Change, request: Request
) -> dict[str, Any]:
    """Bring back what ran before the kill."""
    service = _service(request, project, environment)
    return flag_view(service, service.restore(project, environment, key, _who(body, request)), key)


@router.get(f"{_FLAGS}/{{key}}/history")
def flag_history(
    project: str,
    environment: str,
    key: str,
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """The changes of one flag, newest first."""
    service = _service(request, project, environment)
    found = service.history(project, environment, flag=key, limit=limit)
    return [entry.to_dict() for entry in found]


@router.post(f"{_FLAGS}/{{key}}/evaluate")
def evaluate_flag(
    project: str, environment: str, key: str, body: EvaluateBody, request: Request
) -> dict[str, Any]:
    """What the flag answers for a context, as an SDK would: value, variant, reason and
    error code."""
    service = _service(request, project, environment)
    published = service.published(project, environment)
    found = published.flag_set.evaluate(key, body.default, body.context, kind=body.type)
    return {
        "key": key,
        "version": published.version,
        "value": found.value,
        "variant": found.variant,
        "reason": found.reason.value,
        "error_code": None if found.error_code is None else found.error_code.value,
        "error_message": found.error_message,
        "metadata": dict(found.flag_metadata),
    }
