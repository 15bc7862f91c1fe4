"""The one JSON shape of every error an Andon HTTP API answers with —
``{"error": {"code", "message", ...}}`` — and the handlers that produce it. The control
plane's API and the agent's admin API both install them, so clients read errors alike."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from andon.errors import AndonError, SpecError

__all__ = ["error_body", "install_error_handlers"]

_HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one shape of every error the APIs answer with."""
    return {"error": {"code": code, "message": message, **extra}}


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
        details = [
            {"location": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
            for error in exc.errors()
        ]
        first = details[0] if details else {"location": "body", "message": "invalid"}
        message = f"the request is invalid at {first['location']}: {first['message']}."
        return JSONResponse(error_body("bad_request", message, details=details), status_code=422)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        message = str(exc.detail) if exc.detail else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = unknown_route
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
