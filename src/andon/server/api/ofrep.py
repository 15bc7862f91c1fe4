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

from andon.flags import ErrorCode, Resolution
from andon.server.api.sdk import etag_matches
from andon.server.flagging import FlagService, Published

router = APIRouter(prefix="/ofrep/v1", tags=["ofrep"])

# The codes OFREP lets a server answer for a failed evaluation; others become GENERAL.
_FAILURE_CODES = {
    ErrorCode.PARSE_ERROR,
    ErrorCode.TARGETING_KEY_MISSING,
    ErrorCode.INVALID_CONTEXT,
    ErrorCode.GENERAL,
}


class _InvalidContextError(Exception):
    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


@router.post("/evaluate/flags/{key}", response_model=None)
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


@router.post("/evaluate/flags", response_model=None)
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
    except (ValueError, UnicodeDecodeError):
        raise _InvalidContextError("the request body is not JSON") from None
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
