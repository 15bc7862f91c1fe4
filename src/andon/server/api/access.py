"""``/api/v1`` routes of people and controls: who am I, users and their roles, API tokens
(shown once, when made), freeze windows of environments, and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from andon.errors import ConflictError, ForbiddenError, UsageError
from andon.server.access import (
    AccessControl,
    Principal,
    authenticated,
    hash_token,
    new_token,
    note,
    requires,
)
from andon.server.api._shared import LONGEST_SPAN, JSONRoute, RecordId, parse_span
from andon.store import EVERY_PROJECT, Role, Store

router = APIRouter(tags=["access"], route_class=JSONRoute)

Me = Annotated[Principal, Depends(authenticated)]

_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_ADMIN = [Depends(requires(Role.ADMIN))]
_FREEZES = "/projects/{project}/environments/{environment}/freezes"


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def _now() -> datetime:
    return datetime.now(UTC)


def _duration(text: str | None, what: str) -> timedelta | None:
    return parse_span(text, what) if text else None


# -- who am I, users and roles ------------------------------------------------------------


@router.get("/whoami")
def whoami(principal: Me) -> dict[str, Any]:
    """The user this token speaks for, their roles, and the token."""
    return {**principal.user.to_dict(), "token": principal.token.to_dict(_now())}


class UserBody(BaseModel):
    """A new user and their first role."""

    name: str = Field(pattern=_NAME, description="Lower-case letters, digits, . _ -")
    role: Role = Role.VIEWER
    project: str = Field(default=EVERY_PROJECT, max_length=100, description="* is every one.")


class RoleBody(BaseModel):
    """A role in a project; ``none`` takes the user's role there away."""

    role: Role | None
    project: str = Field(default=EVERY_PROJECT, max_length=100)


@router.get("/users", dependencies=_ADMIN)
def list_users(request: Request) -> list[dict[str, Any]]:
    """Every user with their roles."""
    return [user.to_dict() for user in _store(request).users.list()]


@router.post("/users", status_code=201, dependencies=_ADMIN)
def add_user(body: UserBody, request: Request, principal: Me) -> Any:
    """Add a user with a role; they get a token with ``andon token create --user``."""
    store = _store(request)
    store.users.create(body.name, by=principal.name)
    user = store.users.set_role(body.name, body.project, body.role)
    note(request, after=user.to_dict(), target=f"users/{body.name}")
    return user.to_dict()


@router.post("/users/{user}/role", dependencies=_ADMIN)
def set_role(user: str, body: RoleBody, request: Request) -> Any:
    """Give the user a role in a project (or take it away)."""
    store = _store(request)
    before = store.users.get(user)
    if before.name == _principal(request).name and body.role is not Role.ADMIN:
        admins = [u for u in store.users.list() if u.role_in(None) is Role.ADMIN]
        if admins == [before] and body.project == EVERY_PROJECT:
            raise ConflictError(
                f"{user} is the last admin of every project; make another admin first."
            )
    after = store.users.set_role(user, body.project, body.role)
    _access(request).forget()
    note(request, before=before.to_dict(), after=after.to_dict(), target=f"users/{user}")
    return after.to_dict()


# -- API tokens ---------------------------------------------------------------------------


class TokenBody(BaseModel):
    """A token to make: its name, whose (admins only: another user's), how long it lasts."""

    name: str = Field(min_length=1, max_length=100)
    user: str | None = Field(default=None, max_length=64)
    expires_in: str | None = Field(default=None, description="e.g. 30d; none: never expires.")


@router.get("/tokens")
def list_tokens(
    request: Request,
    principal: Me,
    user: str | None = Query(default=None, description="Another user's (admins)."),
    all: bool = Query(default=False, description="Every user's (admins)."),
) -> list[dict[str, Any]]:
    """Your tokens (never the tokens themselves)."""
    whose = None if all else (user or principal.name)
    if whose != principal.name:
        _admin(principal, "list other users' tokens")
    now = _now()
    return [t.to_dict(now) for t in _store(request).api_tokens.list(whose)]


@router.post("/tokens", status_code=201)
def create_token(body: TokenBody, request: Request, principal: Me) -> dict[str, Any]:
    """Make a token; the answer holds it, and it is never shown again."""
    store = _store(request)
    user = body.user or principal.name
    if user != principal.name:
        _admin(principal, f"make tokens for {user}")
    store.users.get(user)
    lasts = _duration(body.expires_in, "expires_in")
    token = new_token()
    record = store.api_tokens.create(
        user=user,
        name=body.name,
        token_hash=hash_token(token),
        expires_at=_now() + lasts if lasts is not None else None,
    )
    shown = record.to_dict(_now())
    note(request, after=shown, target=f"tokens/{record.id}")
    return {**shown, "token": token}


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: RecordId, request: Request, principal: Me) -> dict[str, Any]:
    """Revoke a token (yours, or anyone's for admins); it stops working within a second."""
    store = _store(request)
    found = store.api_tokens.get(token_id)
    if found.user != principal.name:
        _admin(principal, f"revoke tokens of {found.user}")
    revoked = store.api_tokens.revoke(token_id)
    _access(request).forget()
    shown = revoked.to_dict(_now())
    note(request, before=found.to_dict(_now()), after=shown, target=f"tokens/{token_id}")
    return shown


# -- freeze windows -----------------------------------------------------------------------


class FreezeBody(BaseModel):
    """A window during which rollouts to the environment are refused."""

    reason: str = Field(min_length=1, max_length=1000)
    duration: str | None = Field(default=None, description="From now (or from starts_at).")
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@router.get(_FREEZES)
def list_freezes(
    project: str, environment: str, request: Request, all: bool = False
) -> list[dict[str, Any]]:
    """The environment's freeze windows that have not ended (``all``: every one)."""
    now = _clock(request)
    found = _store(request).freezes.list(project, environment, since=None if all else now)
    return [window.to_dict(now) for window in found]


@router.post(_FREEZES, status_code=201, dependencies=_ADMIN)
def add_freeze(
    project: str,
    environment: str,
    body: FreezeBody,
    request: Request,
    principal: Me,
) -> dict[str, Any]:
    """Freeze the environment for a while: rollouts are refused unless a person breaks
    the glass with a reason."""
    store = _store(request)
    store.environments.get(project, environment)
    now = _clock(request)
    starts = _aware(body.starts_at) or now
    if starts - now > LONGEST_SPAN:
        raise UsageError("a freeze must start within a century; give an earlier starts_at.")
    lasts = _duration(body.duration, "duration")
    ends = _aware(body.ends_at) or (starts + lasts if lasts is not None else None)
    if ends is None:
        raise UsageError("say how long the freeze lasts: give duration (e.g. 4h) or ends_at.")
    if ends <= starts or ends <= now:
        raise UsageError("a freeze must end after it starts, and in the future.")
    window = store.freezes.create(
        project=project,
        environment=environment,
        starts_at=starts,
        ends_at=ends,
        reason=body.reason,
        by=principal.name,
    )
    shown = window.to_dict(now)
    note(request, after=shown, target=f"{project}/{environment}/freezes/{window.id}")
    return shown


@router.delete(f"{_FREEZES}/{{freeze_id}}", dependencies=_ADMIN)
def lift_freeze(project: str, environment: str, freeze_id: RecordId, request: Request) -> Any:
    """End a freeze window now."""
    lifted = _store(request).freezes.lift(project, environment, freeze_id)
    shown = lifted.to_dict(_clock(request))
    note(request, after=shown, target=f"{project}/{environment}/freezes/{freeze_id}")
    return shown


# -- the audit trail ----------------------------------------------------------------------


@router.get("/audit", dependencies=_ADMIN)
def list_audit(
    request: Request,
    since: str | None = Query(default=None, description="A duration back (e.g. 24h)."),
    actor: str | None = None,
    action: str | None = Query(default=None, description="An action or its prefix."),
    limit: int = Query(default=100, ge=1, le=10_000),
) -> list[dict[str, Any]]:
    """The newest entries first."""
    back = _duration(since, "since")
    entries = _store(request).audit.list(
        since=_now() - back if back is not None else None, actor=actor, action=action, limit=limit
    )
    return [entry.to_dict() for entry in entries]


@router.get("/audit/verify", dependencies=_ADMIN)
def verify_audit(request: Request) -> dict[str, Any]:
    """Walk the trail: whether every entry's hash and link hold, and the first that does not."""
    return _store(request).audit.verify().to_dict()


# -- helpers ------------------------------------------------------------------------------


def _principal(request: Request) -> Principal:
    return request.state.principal  # type: ignore[no-any-return]


def _access(request: Request) -> AccessControl:
    return request.app.state.access  # type: ignore[no-any-return]


def _admin(principal: Principal, action: str) -> None:
    if principal.user.role_in(None) is not Role.ADMIN:
        raise ForbiddenError(
            f"{principal.name} may not {action}: that needs the admin role on every project."
        )


def _clock(request: Request) -> datetime:
    """The time rollouts see (the environments' lifecycle clock)."""
    return request.app.state.lifecycle.clock()  # type: ignore[no-any-return]


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise UsageError("give times with a time zone, e.g. 2026-12-24T18:00:00Z.")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first UTC time
        raise UsageError(
            f"{value.isoformat()} is not a time the server can count; give one between the "
            "years 1 and 9999."
        ) from None
