"""``/ofrep/v1``: the OpenFeature Remote Evaluation Protocol, so that any OpenFeature
SDK's OFREP provider evaluates the flags of the environment its client token selects.

Shapes and statuses are the protocol's (``open-feature/protocol``, ``service/openapi.yaml``):
a single evaluation answers 200 ``{key, value, reason, variant, metadata}``, 404
``{key, errorCode: FLAG_NOT_FOUND, errorDetails}`` for an unknown flag and 400 ``{key,
errorCode, errorDetails}`` for an invalid context or a failed evaluation; the bulk
evaluation answers ``{flags: [...]}`` with an ``ETag`` and 304 to a matching
``If-None-Match``. A flag that serves the caller's default (disabled, or without a default
variant) answers without a ``value``, so that the provider serves the caller's default.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from andon.api_errors import error_responses
from andon.flags import ErrorCode, Resolution
from andon.server.api._shared import JSONRoute
from andon.server.api.sdk import etag_matches
from andon.server.flagging import FlagService, Published

router = APIRouter(prefix="/ofrep/v1", tags=["ofrep"], route_class=JSONRoute)

# The codes OFREP lets a server answer for a failed evaluation; others become GENERAL.
_FAILURE_CODES = {
    ErrorCode.PARSE_ERROR,
    ErrorCode.TARGETING_KEY_MISSING,
    ErrorCode.INVALID_CONTEXT,
    ErrorCode.GENERAL,
}


class Evaluation(BaseModel):
    """A flag's value for the context; without ``value`` the caller's default applies."""

    model_config = ConfigDict(extra="allow")

    key: str
    reason: str
    variant: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    value: Any = Field(default=None, description="Absent: serve the caller's default.")


class Failure(BaseModel):
    """A flag that could not be evaluated for the context, and why."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    key: str
    error_code: str = Field(alias="errorCode", description="OFREP's error code.")
    error_details: str = Field(default="", alias="errorDetails")


class BulkEvaluation(BaseModel):
    """Every flag's value for the context (a flag serving the caller's default is left out)."""

    flags: list[Evaluation | Failure]


class BulkFailure(BaseModel):
    """The context cannot be read."""

    model_config = ConfigDict(populate_by_name=True)

    error_code: str = Field(alias="errorCode")
    error_details: str = Field(default="", alias="errorDetails")


# The body is read by hand (an empty one is an empty context), so it is described here.
_CONTEXT = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"context": {"type": "object", "additionalProperties": True}},
                }
            }
        },
    }
}
# The client token's refusals, a body too large and a store away are Andon's errors (422
# is listed so that FastAPI does not describe its own body for it).
_ANDON_ERRORS = error_responses(401, 403, 413, 422, 503)


class _InvalidContextError(Exception):
    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


@router.post(
    "/evaluate/flags/{key}",
    response_model=None,
    responses={
        200: {"model": Evaluation, "description": "The flag's value."},
        400: {"model": Failure, "description": "The context is invalid, or evaluation failed."},
        404: {"model": Failure, "description": "There is no such flag (FLAG_NOT_FOUND)."},
        **_ANDON_ERRORS,
    },
    openapi_extra=_CONTEXT,
)
async def evaluate_flag(key: str, request: Request) -> Response:
    """Evaluate one flag for the request's context."""
    published = await _published(request)
    try:
        context = await _context(request)
    except _InvalidContextError as exc:
        return _failure(400, key, ErrorCode.INVALID_CONTEXT, exc.details)
    if key not in published.flag_set:
        details = f"flag '{key}' is not in the flag set of this environment"
        return _failure(404, key, ErrorCode.FLAG_NOT_FOUND, details)
    answer = _evaluation(key, published.flag_set.evaluate(key, None, context))
    return JSONResponse(answer, status_code=400 if "errorCode" in answer else 200)


@router.post(
    "/evaluate/flags",
    response_model=None,
    responses={
        200: {"model": BulkEvaluation, "description": "Every flag's value, with an ETag."},
        304: {"description": "The client's If-None-Match names this answer."},
        400: {"model": BulkFailure, "description": "The context is invalid."},
        **_ANDON_ERRORS,
    },
    openapi_extra=_CONTEXT,
)
async def evaluate_flags(request: Request) -> Response:
    """Evaluate every flag for the request's context; 304 when the client has the answer."""
    published = await _published(request)
    try:
        context = await _context(request)
    except _InvalidContextError as exc:
        failure = {"errorCode": ErrorCode.INVALID_CONTEXT.value, "errorDetails": exc.details}
        return JSONResponse(failure, status_code=400)
    answers = []
    for key in published.flag_set:
        answer = _evaluation(key, published.flag_set.evaluate(key, None, context))
        # A flag that serves the caller's default has no value to list (flagd leaves it
        # out too); the provider then serves the caller's default.
        if "errorCode" in answer or "value" in answer:
            answers.append(answer)
    text = json.dumps({"flags": answers}, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    etag = f'"{published.version}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"'
    match = request.headers.get("if-none-match")
    if match is not None and etag_matches(match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(text, media_type="application/json", headers={"ETag": etag})


async def _published(request: Request) -> Published:
    service: FlagService = request.app.state.flags

    def read() -> Published:
        token = service.tokens.authenticate(request.headers)
        return service.published(token.project, token.environment)

    return await asyncio.to_thread(read)


async def _context(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:  # UnicodeDecodeError is one too
        raise _InvalidContextError("the request body is not JSON") from None
    except RecursionError:
        raise _InvalidContextError("the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise _InvalidContextError("the request body is a JSON object with a context")
    context = body.get("context", {})
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise _InvalidContextError("the context is a JSON object of attributes")
    return context


def _evaluation(key: str, found: Resolution[Any]) -> dict[str, Any]:
    if found.error_code is not None:
        code = found.error_code if found.error_code in _FAILURE_CODES else ErrorCode.GENERAL
        return {"key": key, "errorCode": code.value, "errorDetails": found.error_message or ""}
    answer: dict[str, Any] = {
        "key": key,
        "reason": found.reason.value,
        "variant": found.variant,
        "metadata": dict(found.flag_metadata),
    }
    if found.variant is not None:
        answer["value"] = found.value
    return answer


def _failure(status: int, key: str, code: ErrorCode, details: str) -> JSONResponse:
    return JSONResponse({"key": key, "errorCode": code.value, "errorDetails": details}, status)
