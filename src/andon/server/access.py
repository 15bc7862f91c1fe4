"""Who is asking and what they may do: API tokens, roles per project, and the audit of
every change.

Every route of ``/api/v1`` runs :func:`default_access` (a router dependency): the request
must carry ``Authorization: Bearer <token>`` of a user who has, in the route's project, at
least the viewer role to read and the deployer role to change anything; routes that need
more add :func:`requires` (admin: people, tokens, freeze windows, the audit trail). The
project is the route's ``{project}`` (or ``{name}`` of ``/projects/{name}``), that of the
pipeline or rollout a route names by number, or the ``project`` query parameter; a route
of no one project needs the role on every project (``*``). Three kinds of route answer to
other credentials and skip this: ``/health`` (for probes), incoming git webhooks (HMAC
signed) and the flag SDKs' routes (flag client tokens).

At the first start, with no user yet, :func:`bootstrap_admin` makes the user ``admin``
(admin on every project) and writes its token to ``ANDON_HOME/token`` (mode 0600), which
the CLI sends; tokens are otherwise shown once, when made, and kept only as SHA-256.

:func:`audit_changes` (HTTP middleware) records each successful change made through the
API in the hash-chained audit trail: who, what (``<area>.<route>``), the path, and what
the route noted as before and after in ``request.state.audit``; the controllers record
what they do by themselves (``actor: andon``) through :func:`record`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response

from andon.errors import AndonError, ForbiddenError, NotFoundError, UnauthenticatedError
from andon.settings import Settings
from andon.store import EVERY_PROJECT, MAX_ID, ApiTokenRecord, Role, Store, UserRecord

log = logging.getLogger("andon.server.access")

TOKEN_PREFIX = "andon_"
BOOTSTRAP_USER = "admin"
SYSTEM_ACTOR = "andon"
"""The actor of what Andon's controllers do by themselves."""

_CACHE_SECONDS = 1.0
_TOUCH_SECONDS = 60.0
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_token() -> str:
    """A fresh API token: ``andon_`` and 43 URL-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """How a token is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """The user a request speaks for, and the token it came with."""

    user: UserRecord
    token: ApiTokenRecord

    @property
    def name(self) -> str:
        return self.user.name


class AccessControl:
    """Authenticates tokens (a second's cache, so revoking takes a second at most) and
    checks roles."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, tuple[float, Principal]] = {}

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization`` header; UnauthenticatedError saying what
        is missing or wrong."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if not authorization:
            raise UnauthenticatedError(
                "this route needs an API token: send 'Authorization: Bearer <token>' "
                "('andon token create' makes one; the CLI sends ANDON_TOKEN or ANDON_HOME/token)."
            )
        if scheme.lower() != "bearer" or not token:
            raise UnauthenticatedError(
                "the Authorization header must be 'Bearer <token>'; no other scheme is taken."
            )
        digest = hash_token(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < _CACHE_SECONDS:
            return cached[1]
        record = self.store.api_tokens.find(digest)
        if record is None:
            raise UnauthenticatedError(
                "this API token is not known; check it, or make another with 'andon token create'."
            )
        wall = datetime.now(UTC)
        state = record.state(wall)
        if state != "active":
            raise UnauthenticatedError(
                f"API token #{record.id} ({record.name}) of {record.user} is {state}; "
                "make another with 'andon token create'."
            )
        user = self.store.users.find(record.user)
        if user is None:
            raise UnauthenticatedError(f"the user of API token #{record.id} no longer exists.")
        wall = self.store.api_tokens._now()
        if (
            record.last_used_at is None
            or (wall - record.last_used_at).total_seconds() > _TOUCH_SECONDS
        ):
            self.store.api_tokens.touch(record.id, wall)
        principal = Principal(user, record)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, principal)
        return principal

    def forget(self) -> None:
        """Drop the cache (a token was revoked or a role changed through this server)."""
        self._cache.clear()

    @staticmethod
    def check(principal: Principal, project: str | None, needed: Role, action: str) -> None:
        """ForbiddenError unless ``principal`` has ``needed`` (or more) in ``project``."""
        held = principal.user.role_in(project)
        if held is not None and held.allows(needed):
            return
        where = f"project {project}" if project else "every project"
        has = f"is {held.value} there" if held is not None else "has no role there"
        raise ForbiddenError(
            f"{principal.name} may not {action}: that needs the {needed.value} role in "
            f"{where}, and {principal.name} {has}; an admin can grant it with "
            f"'andon user role {principal.name} {needed.value}"
            f"{' --project ' + project if project else ''}'."
        )


def _project_of(request: Request, store: Store) -> str | None:
    params = request.path_params
    if "project" in params:
        return str(params["project"])
    if "name" in params and request.url.path.startswith("/api/v1/projects/"):
        return str(params["name"])
    try:
        if "pipeline_id" in params:
            return store.pipelines.get(_record_id(params["pipeline_id"])).project
        if "rollout_id" in params:
            return store.rollouts.get(_record_id(params["rollout_id"])).project
    except (NotFoundError, ValueError):
        return None  # the route itself answers 404 (or 422) for it
    project = request.query_params.get("project")
    return project or None


def _record_id(text: str) -> int:
    """A record's number in a path; ValueError for one no record can have (the database
    would refuse it as a parameter)."""
    number = int(text)
    if not 0 < number <= MAX_ID:
        raise ValueError(f"{number} is not a record's number")
    return number


def _action(request: Request) -> str:
    route = request.scope.get("route")
    name = getattr(route, "name", "") or request.url.path
    verb = request.path_params.get("verb")
    return f"{name} {verb}" if verb else name.replace("_", " ")


def principal_of(request: Request, needed: Role) -> Principal:
    """Authenticate the request (once) and check ``needed`` in its project."""
    access: AccessControl = request.app.state.access
    principal = _authenticate(request, access)
    AccessControl.check(principal, _project_of(request, access.store), needed, _action(request))
    return principal


async def default_access(request: Request) -> Principal:
    """Viewer to read, deployer to change (a router dependency of every API route)."""
    return principal_of(request, Role.VIEWER if request.method in _READS else Role.DEPLOYER)


async def authenticated(request: Request) -> Principal:
    """Any known user (routes that check more themselves: one's own tokens)."""
    return _authenticate(request, request.app.state.access)


def _authenticate(request: Request, access: AccessControl) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        principal = access.authenticate(request.headers.get("authorization"))
        request.state.principal = principal
    return principal


def requires(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A route dependency that needs ``role`` in the route's project."""

    async def dependency(request: Request) -> Principal:
        return principal_of(request, role)

    return dependency


def actor(request: Request) -> str:
    """Who the request speaks for (after the route's access check)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal.name if principal is not None else SYSTEM_ACTOR


def note(
    request: Request,
    *,
    before: Any = None,
    after: Any = None,
    target: str = "",
    action: str = "",
) -> None:
    """What the route changed, for the audit entry of this request (and its action, when
    the route's name does not say it)."""
    request.state.audit = {"before": before, "after": after, "target": target, "action": action}


def record(
    store: Store,
    action: str,
    target: str,
    *,
    actor: str = SYSTEM_ACTOR,
    before: Any = None,
    after: Any = None,
) -> None:
    """Append to the audit trail; a failure is logged, never raised (the action is done)."""
    try:
        store.audit.append(actor=actor, action=action, target=target, before=before, after=after)
    except AndonError as exc:
        log.error("the audit trail could not record %s of %s: %s", action, target, exc.message)


async def audit_changes(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Record every successful change made through the API (HTTP middleware)."""
    response = await call_next(request)
    if request.method in _READS or response.status_code >= 400:
        return response
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # a route of other credentials (git webhooks, flag SDKs)
        return response
    route = request.scope.get("route")
    area = getattr(getattr(route, "endpoint", None), "__module__", "api").rsplit(".", 1)[-1]
    name = getattr(route, "name", "call")
    verb = request.path_params.get("verb")
    action = f"{area}.{name}" + (f".{verb}" if verb else "")
    noted: dict[str, Any] = getattr(request.state, "audit", {})
    action = noted.get("action") or action
    target = noted.get("target") or request.url.path.removeprefix("/api/v1/")
    record(
        request.app.state.store,
        action,
        target,
        actor=principal.name,
        before=noted.get("before"),
        after=noted.get("after"),
    )
    return response


def bootstrap_admin(settings: Settings, store: Store) -> str | None:
    """With no user yet: make ``admin`` (admin on every project) and a token for it,
    written to ``ANDON_HOME/token`` (0600); the token, or None when users exist."""
    if store.users.count() > 0:
        return None
    token = new_token()
    settings.home.mkdir(parents=True, exist_ok=True)
    path = settings.token_file
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    store.users.create(BOOTSTRAP_USER, by=SYSTEM_ACTOR)
    store.users.set_role(BOOTSTRAP_USER, EVERY_PROJECT, Role.ADMIN)
    store.api_tokens.create(user=BOOTSTRAP_USER, name="first start", token_hash=hash_token(token))
    os.replace(scratch, path)
    record(
        store,
        "access.bootstrap",
        f"users/{BOOTSTRAP_USER}",
        after={"role": "admin", "project": "*"},
    )
    log.info("made the user admin; its API token is in %s", path)
    return token
