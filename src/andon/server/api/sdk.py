"""``/api/v1/sdk``: what the flag SDKs call, with a client token that selects the flag set
— the set itself (``GET flags``, with ETag), its changes as Server-Sent Events (``GET
stream``), and batches of exposures, tracked events, guard flips and the version applied
(``POST events``).

A stream sends the whole set at once (unless ``Last-Event-ID`` names the current
version), then one event per change, with a keep-alive comment when idle; it ends when
the client goes or the server stops (:class:`~andon.server.flag_streams.FlagStreams`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from andon.errors import TemporaryError
from andon.server.api._shared import JSONRoute
from andon.server.flag_reports import EventBatch, GuardFlip
from andon.server.flagging import FlagService
from andon.server.waking import woken
from andon.store import MAX_ID, FlagTokenRecord

router = APIRouter(prefix="/sdk", tags=["sdk"], route_class=JSONRoute)
log = logging.getLogger("andon.server.flags")

_ITEMS = 10_000
"""Items of each kind one batch may carry (the SDK sends at most 500)."""


class _Lenient(BaseModel):
    # Newer SDKs may send more; what this server does not know it ignores.
    model_config = ConfigDict(extra="ignore")


class ExposureIn(_Lenient):
    flag: str = Field(min_length=1, max_length=200)
    variant: str = Field(min_length=1, max_length=200)
    key: str = Field(min_length=1, max_length=500)
    at: float | None = None


class TrackedIn(_Lenient):
    name: str = Field(min_length=1, max_length=200)
    key: str = Field(min_length=1, max_length=500)
    at: float | None = None
    value: float | None = None


class GuardIn(_Lenient):
    flag: str = Field(min_length=1, max_length=200)
    guard: int = Field(ge=0)
    state: str = Field(description="tripped, or restored")
    at: float | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)


class BatchIn(_Lenient):
    """A batch of what an SDK saw; every key is optional."""

    client: str | None = Field(default=None, min_length=1, max_length=200)
    applied: int | None = Field(default=None, ge=0, le=MAX_ID, description="A flag-set version.")
    exposures: list[ExposureIn] = Field(default_factory=list, max_length=_ITEMS)
    events: list[TrackedIn] = Field(default_factory=list, max_length=_ITEMS)
    guards: list[GuardIn] = Field(default_factory=list, max_length=_ITEMS)


def _service(request: Request) -> FlagService:
    return request.app.state.flags  # type: ignore[no-any-return]


def _token(request: Request, environment: str | None) -> FlagTokenRecord:
    return _service(request).tokens.authenticate(request.headers, environment)


@router.get(
    "/flags",
    response_model=None,
    responses={304: {"description": "The client's If-None-Match names this version."}},
)
def flags(
    request: Request,
    environment: str | None = Query(default=None, description="Checked against the token's."),
    if_none_match: str | None = Header(default=None),
) -> Response:
    """The token's flag set: version, flagd document and guards, with ``ETag: "n"``."""
    token = _token(request, environment)
    published = _service(request).published(token.project, token.environment)
    etag = f'"{published.version}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return JSONResponse(published.body, headers=headers)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events."}},
)
async def stream(
    request: Request,
    client: str = Query(default="", max_length=200),
    environment: str | None = Query(default=None),
    last_event_id: str | None = Header(default=None),
) -> StreamingResponse:
    """The token's flag set as Server-Sent Events: one ``flags`` event per version."""
    service = _service(request)
    token = await asyncio.to_thread(_token, request, environment)
    if service.streams.closed:
        raise TemporaryError("the server is stopping; connect again in a moment.", delay=1.0)
    if client:
        await asyncio.to_thread(
            service.store.flag_events.report_client, token.project, token.environment, client
        )
    return StreamingResponse(
        _events(service, token, client, _version(last_event_id)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/events", status_code=202)
async def events(body: BatchIn, request: Request) -> dict[str, Any]:
    """Take in a batch of exposures, tracked events, guard flips and the version applied."""
    token = await asyncio.to_thread(_token, request, None)
    batch = EventBatch(
        client=body.client,
        applied=body.applied,
        exposures=[item.model_dump() for item in body.exposures],
        events=[item.model_dump() for item in body.events],
        guards=[
            GuardFlip(item.flag, item.guard, item.state == "tripped", item.at, item.evidence)
            for item in body.guards
        ],
    )
    taken = await _service(request).reports.submit(token.project, token.environment, batch)
    return {"accepted": taken}


def etag_matches(header: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weakly, as HTTP compares it)."""
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in candidates or etag.removeprefix("W/") in candidates


def _version(last_event_id: str | None) -> int | None:
    try:
        return int(last_event_id) if last_event_id is not None else None
    except ValueError:
        return None  # not one of ours: send the set


async def _events(
    service: FlagService, token: FlagTokenRecord, client: str, sent: int | None
) -> AsyncIterator[str]:
    """The set now unless the client has it, then each new version, until the client
    goes or the server stops. A keep-alive comment also rereads the store, for changes
    another server wrote."""
    streams = service.streams
    project, environment = token.project, token.environment
    idle = True  # the first look, and each after a keep-alive, reads the store
    with streams.subscription(project, environment, client) as wake:
        while not streams.closed:
            wake.clear()
            # Woken by a change of this process: it is in memory already, so two hundred
            # streams send it at once instead of queueing two hundred reads of the store.
            latest = None if idle else streams.latest(project, environment)
            published = service.cached(project, environment, latest)
            if published is None:
                try:
                    published = await asyncio.to_thread(service.published, project, environment)
                except Exception:  # the store is away: keep the stream, look again later
                    log.exception("a flag stream of %s/%s cannot read", project, environment)
            if published is not None and published.version != sent:
                yield published.event
                sent = published.version
            idle = not await woken(wake, streams.keepalive)
            if idle:
                yield ": keep-alive\n\n"
