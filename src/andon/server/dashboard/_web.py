"""What every dashboard route shares: who is signed in (:func:`signed_in`, a route
dependency), forms and their CSRF check (:func:`read_form`), the templates and the one
way pages are answered (:func:`render`, :func:`page`), with the headers that keep them
from being framed, sniffed or given foreign scripts.

Routes raise :class:`SignInRequiredError` and :class:`FormRefusedError`;
:func:`install_handlers` turns them into a redirect to the sign-in page and a 403 page.
Errors of Andon's services (AndonError) are shown by :func:`page` on the page itself,
with their status.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from markupsafe import Markup

from andon.errors import AndonError, ForbiddenError, UnauthenticatedError
from andon.server.access import AccessControl, Principal
from andon.server.dashboard import svg
from andon.server.dashboard.banner import line_context
from andon.server.dashboard.sessions import SESSION_COOKIE, Session, Sessions, principal_for
from andon.store import ProjectRecord, Role, Store

log = logging.getLogger("andon.server.dashboard")

TEMPLATES = Path(__file__).parent / "templates"
FORM_LIMIT = 64 * 1024
"""Bytes a form may have: the dashboard's forms are a few short fields."""

SECURITY_HEADERS = {
    # Scripts and styles only from /static: no inline script, no inline style attribute.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignInRequiredError(UnauthenticatedError):
    """No live session: the browser goes to the sign-in page (SSE streams get a 401)."""

    def __init__(self, message: str = "", *, back: str = "/") -> None:
        super().__init__(message or "sign in to see the dashboard.")
        self.back = back


class FormRefusedError(ForbiddenError):
    """A request refused before it did anything: a forged or stale form (CSRF)."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in person of a request: their session and who their token speaks for."""

    session: Session
    principal: Principal

    @property
    def name(self) -> str:
        return self.principal.name

    def may(self, project: str | None, role: Role = Role.VIEWER) -> bool:
        held = self.principal.user.role_in(project)
        return held is not None and held.allows(role)

    def check(self, project: str | None, role: Role, action: str) -> None:
        """ForbiddenError, in the API's words, unless they hold ``role`` in ``project``."""
        AccessControl.check(self.principal, project, role, action)

    def projects(self, store: Store) -> list[ProjectRecord]:
        """The projects they may see."""
        return [project for project in store.projects.list() if self.may(project.name)]


# -- templates ----------------------------------------------------------------------------


def _when(value: datetime | str | None) -> Markup:
    """A time as ``<time>``: the machine-readable instant, and UTC for people."""
    if value is None:
        return Markup("—")
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    utc = value.astimezone(UTC)
    return Markup('<time datetime="{}">{}</time>').format(
        utc.isoformat().replace("+00:00", "Z"), utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    )


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.globals.update(
    flow_bar=svg.flow_bar,
    stage_words={
        "done": "✓ done",
        "failed": "✗ failed",
        "working": "● in progress",
        "waiting": "◌ waiting",
    },
)
templates.filters.update(
    duration=svg.duration,
    short=lambda sha: (sha or "")[:12],
    when=_when,
    percent=_percent,
)


def fragment(name: str, context: Mapping[str, Any]) -> str:
    """One partial template rendered alone (what a live region receives)."""
    return templates.get_template(name).render(context)


# -- who is signed in ---------------------------------------------------------------------


def sessions_of(app: FastAPI) -> Sessions:
    return app.state.dashboard_sessions  # type: ignore[no-any-return]


def store_of(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def signed_in(request: Request) -> Viewer:
    """The session of the request's cookie, its token checked again now (a route
    dependency); SignInRequiredError without one. Sets ``request.state.principal``, so that the
    audit trail records what the request changes."""
    sessions = sessions_of(request.app)
    session = sessions.get(request.cookies.get(SESSION_COOKIE))
    back = request.url.path if request.method == "GET" else "/"
    if session is None:
        raise SignInRequiredError(back=back)
    try:
        principal = principal_for(store_of(request), session.token_hash)
    except UnauthenticatedError as exc:
        sessions.end(session.id)
        raise SignInRequiredError(exc.message, back=back) from exc
    request.state.principal = principal
    return Viewer(session, principal)


async def read_form(request: Request, viewer: Viewer) -> dict[str, str]:
    """The fields of a posted form, once its CSRF token (field ``csrf`` or header
    ``X-CSRF-Token``) matches the session's and any Origin is this server's; FormRefusedError
    otherwise, before anything is done."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise FormRefusedError(
                "this form is too large; the dashboard's forms are a few fields."
            )
    fields = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    check_origin(request)
    sent = fields.pop("csrf", "") or request.headers.get("x-csrf-token", "")
    if not sent or not hmac.compare_digest(sent.encode(), viewer.session.csrf.encode()):
        raise FormRefusedError(
            "this form was not sent from a page of this dashboard (its CSRF token is missing "
            "or wrong); nothing was changed. Reload the page and try again."
        )
    return fields


def check_origin(request: Request) -> None:
    """FormRefusedError when the browser says the request comes from another site."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    ours = f"{request.url.scheme}://{request.url.netloc}"
    if origin != ours:
        raise FormRefusedError(
            f"a request from {origin} may not change anything here; nothing was changed."
        )


def safe_back(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path of this site (never another site: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return default
    return target


# -- answering ----------------------------------------------------------------------------


def render(
    request: Request,
    viewer: Viewer | None,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> HTMLResponse:
    """A whole page: the layout (banner of the line, navigation, messages) around
    ``template`` with ``context``."""
    whole: dict[str, Any] = {
        "viewer": viewer,
        "csrf": viewer.session.csrf if viewer is not None else "",
        "path": request.url.path,
        "live": None,
        "error": None,
        "flashes": viewer.session.take_flashes() if viewer is not None else [],
        **context,
    }
    if "lines" not in whole:
        # Nobody signed in sees no project's line.
        whole["lines"] = line_context(store_of(request), viewer) if viewer is not None else []
    html = templates.get_template(template).render(whole)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def page(
    request: Request,
    viewer: Viewer,
    template: str,
    build: Callable[[], Mapping[str, Any]],
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """A page whose context ``build`` gathers; an Andon error on the way is the page's
    message (an error page with its status), never a 500."""
    try:
        context = dict(build())
    except AndonError as exc:
        return error_page(request, viewer, exc.message, exc.http_status)
    context["error"] = error
    return render(request, viewer, template, context, status=status)


def error_page(request: Request, viewer: Viewer | None, message: str, status: int) -> HTMLResponse:
    return render(
        request, viewer, "error.html", {"message": message, "status": status}, status=status
    )


def redirect(url: str) -> RedirectResponse:
    """See Other: a form's answer (the browser GETs the page again)."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def install_handlers(app: FastAPI) -> None:
    """Answer SignInRequiredError and FormRefusedError as pages, not as the API's JSON."""

    async def sign_in_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequiredError)
        if request.url.path.startswith("/events/"):
            return PlainTextResponse(exc.message, status_code=401, headers=SECURITY_HEADERS)
        target = "/signin?next=" + quote(safe_back(exc.back), safe="/")
        if exc.message != SignInRequiredError().message:
            target += "&ended=1"
        return redirect(target)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FormRefusedError)
        viewer = None
        session = sessions_of(request.app).get(request.cookies.get(SESSION_COOKIE))
        principal = getattr(request.state, "principal", None)
        if session is not None and principal is not None:
            viewer = Viewer(session, principal)
        # Nothing was done: the audit trail must not record it.
        request.state.principal = None
        return error_page(request, viewer, exc.message, 403)

    app.add_exception_handler(SignInRequiredError, sign_in_needed)
    app.add_exception_handler(FormRefusedError, refused)
