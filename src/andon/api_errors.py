"""The one JSON shape of every error an Andon HTTP API answers with —
``{"error": {"code", "message", ...}}`` — the handlers that produce it, its OpenAPI
description (:func:`error_responses`), and the limit on request bodies
(:class:`BodySizeLimit`) that refuses in the same shape. The control plane's API and the
agent's admin API both install the handlers, so clients read errors alike."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from andon.errors import AndonError, SpecError

__all__ = [
    "BodySizeLimit",
    "ErrorBody",
    "ErrorDetail",
    "error_body",
    "error_responses",
    "install_error_handlers",
]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    422: "bad_request",
}

_UNPARSABLE_BODY = "There was an error parsing the body"

_DESCRIPTIONS = {
    400: "The request cannot work as given.",
    401: "The request carries no valid token.",
    403: "The token may not do this.",
    404: "What the request names does not exist.",
    409: "The state of what the request names forbids it now.",
    413: "The request body is larger than the route takes.",
    422: "The request or the andon.yaml it names is invalid; each problem in its place.",
    503: "A service the server needs (its database, the agent, a setting) is not there.",
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one shape of every error the APIs answer with."""
    return {"error": {"code": code, "message": message, **extra}}


class ErrorDetail(BaseModel):
    """What went wrong: a code to act on and one sentence for people; some errors say
    more (``details`` of an invalid request, ``problems`` and ``lines`` of an invalid
    andon.yaml)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="e.g. not_found, conflict, bad_request, invalid_spec.")
    message: str = Field(description="One sentence that says what to do next.")


class ErrorBody(BaseModel):
    """Every error the API answers with."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of routes that may answer ``statuses`` with
    :func:`error_body` (FastAPI's own 422 schema is replaced by it)."""
    return {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses
    }


def install_error_handlers(
    app: FastAPI, *, who: str, unknown_route: str, log: logging.Logger
) -> None:
    """Answer every error of ``app`` as :func:`error_body`; ``who`` names the process in
    the message of an unexpected failure, ``unknown_route`` is the 404 sentence."""

    async def andon_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AndonError)
        extra: dict[str, Any] = {}
        if isinstance(exc, SpecError):
            extra["problems"] = [problem.to_dict() for problem in exc.problems]
            extra["lines"] = exc.lines()
        return JSONResponse(error_body(exc.code, exc.message, **extra), status_code=exc.http_status)

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        details = [
            {"location": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
            for error in errors
        ]
        if errors and errors[0].get("type") == "json_invalid":
            reason = str(errors[0].get("ctx", {}).get("error", "it does not parse"))
            where = errors[0]["loc"][-1]
            message = f"the request body is not valid JSON: {reason} at character {where}."
        else:
            first = details[0] if details else {"location": "body", "message": "invalid"}
            message = f"the request is invalid at {first['location']}: {first['message']}."
        message = " ".join(message.split())  # one line, whatever the validator said
        return JSONResponse(error_body("bad_request", message, details=details), status_code=422)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        message = str(exc.detail) if exc.detail else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = unknown_route
        elif message == _UNPARSABLE_BODY:  # FastAPI's words for a body json cannot decode
            message = "the request body cannot be read; send JSON in UTF-8, not nested too deeply."
        return JSONResponse(
            error_body(_HTTP_CODES.get(exc.status_code, "error"), message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while serving a request", exc_info=exc)
        return JSONResponse(
            error_body("internal", f"the {who} failed unexpectedly; its log has the details."),
            status_code=500,
        )

    app.add_exception_handler(AndonError, andon_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


class BodySizeLimit:
    """ASGI middleware: a request body larger than its route's limit is refused with 413
    and :func:`error_body`, before the route reads it (by its Content-Length) or as soon
    as it has read too much (a chunked body), so that no route holds a huge body in
    memory. ``limits`` raises (or lowers) the limit of exact paths."""

    def __init__(self, app: ASGIApp, *, default: int, limits: Mapping[str, int] | None = None):
        self.app = app
        self.default = default
        self.limits = dict(limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route: the app's handler of HTTPException answers it.
                    raise HTTPException(413, detail=_too_large_message(limit))
            return message

        await self.app(scope, counted, send)


def _too_large_message(limit: int) -> str:
    """The sentence of a 413."""
    return f"the request body is larger than {_size(limit)}, the most this route takes; send less."


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(error_body("too_large", _too_large_message(limit)), status_code=413)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server in front refuses it; counting still limits it
    return None


def _size(count: int) -> str:
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"
