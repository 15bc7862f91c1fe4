"""``/signin`` and ``/signout``: a person signs in to the dashboard with an API token,
which makes a server-side session (see :mod:`~andon.server.dashboard.sessions`).

The sign-in form carries its own CSRF token, also set as a short-lived cookie (double
submit), so that another site cannot sign a browser in as someone else; signing out is a
form of the signed-in pages, checked like every other.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from andon.errors import UnauthenticatedError
from andon.server.access import AccessControl, hash_token
from andon.server.dashboard._web import (
    FORM_LIMIT,
    FormRefusedError,
    Viewer,
    check_origin,
    read_form,
    redirect,
    render,
    safe_back,
    sessions_of,
    signed_in,
)
from andon.server.dashboard.sessions import SESSION_COOKIE, principal_for

router = APIRouter(include_in_schema=False)

SIGNIN_COOKIE = "andon_signin"
"""The sign-in form's CSRF token, as a cookie (double submit)."""
_SIGNIN_LIFETIME = 3600


@router.get("/signin", response_model=None)
def sign_in_form(request: Request, next: str = "/", ended: bool = False) -> Response:
    """The sign-in page (or the dashboard, for a browser signed in already)."""
    session = sessions_of(request.app).get(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        try:
            principal_for(request.app.state.store, session.token_hash)
            return redirect(safe_back(next))
        except UnauthenticatedError:
            sessions_of(request.app).end(session.id)
    message = "Your session has ended; sign in again." if ended else None
    return _form(request, next, message=message, status=200)


@router.post("/signin", response_model=None)
async def sign_in(request: Request) -> Response:
    """Check the token and open a session; the page asked for next, or the board."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise FormRefusedError("this form is too large; paste the API token alone.")
    fields = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    check_origin(request)
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    sent = fields.get("csrf", "")
    back = safe_back(fields.get("next"))
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _form(
            request,
            back,
            message="The sign-in form had expired or was not sent from this page; try again.",
            status=403,
        )
    token = fields.get("token", "").strip()
    if not token:
        return _form(request, back, message="Paste an API token to sign in.", status=401)
    access: AccessControl = request.app.state.access
    try:
        principal = access.authenticate(f"Bearer {token}")
    except UnauthenticatedError as exc:
        return _form(request, back, message=f"That token was refused: {exc.message}", status=401)
    session = sessions_of(request.app).create(hash_token(token), principal.name)
    response = redirect(back)
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        max_age=int(sessions_of(request.app).lifetime),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


@router.post("/signout", response_model=None)
async def sign_out(request: Request, viewer: Annotated[Viewer, Depends(signed_in)]) -> Response:
    """End the session."""
    await read_form(request, viewer)
    # Signing out changes nothing of Andon's: nothing for the audit trail.
    request.state.principal = None
    sessions_of(request.app).end(viewer.session.id)
    response = redirect("/signin")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _form(request: Request, back: str, *, message: str | None, status: int) -> HTMLResponse:
    csrf = secrets.token_urlsafe(32)
    response = render(
        request,
        None,
        "signin.html",
        {"next": safe_back(back), "csrf": csrf, "message": message, "lines": []},
        status=status,
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        csrf,
        max_age=_SIGNIN_LIFETIME,
        path="/signin",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
