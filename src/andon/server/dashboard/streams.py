"""``/events/...``: each dashboard page's live regions as Server-Sent Events, which the
htmx SSE extension swaps into the page (``sse-swap="NAME"`` takes the events named so).

A stream renders its page's fragments every :attr:`DashboardStreams.interval` seconds
and sends each one whose HTML changed since it last sent it (all of them at first, so
that a page catches up with what changed between its rendering and the stream's
opening). Rendering on the server and comparing keeps one source of truth, the partial
templates, for the page and its updates. Every look checks the session's token again: a
revoked token ends its streams. Streams end when the server stops (``close``, called
with the app's ``close_streams``), and after :attr:`DashboardStreams.lifetime`, after
which the browser connects again by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from andon.errors import AndonError, UnauthenticatedError
from andon.server.dashboard._web import (
    SECURITY_HEADERS,
    Viewer,
    fragment,
    sessions_of,
    signed_in,
    store_of,
)
from andon.server.dashboard.banner import line_context
from andon.server.dashboard.board import board_context
from andon.server.dashboard.environments import instances_within, rollout_context
from andon.server.dashboard.pipelines import pipeline_context, pipelines_context
from andon.server.dashboard.sessions import principal_for
from andon.store import Role

router = APIRouter(include_in_schema=False)

Fragments = Callable[[Viewer], Awaitable[dict[str, str]]]
"""Renders a page's live regions by event name, for the viewer as they are now."""


@dataclass
class DashboardStreams:
    """How the open streams behave, and the switch that ends them all."""

    interval: float = 1.0
    """Seconds between looks."""
    lifetime: float = 600.0
    """Seconds a stream lasts before the browser is asked to connect again."""
    keepalive: float = 15.0
    closed: bool = False
    open: int = 0
    """Streams open now (counted on the event loop)."""

    def close(self) -> None:
        """End every stream within one look (the server stops); callable from any thread."""
        self.closed = True


def streams_of(request: Request) -> DashboardStreams:
    return request.app.state.dashboard_streams  # type: ignore[no-any-return]


def sse_event(name: str, html: str) -> str:
    """One event whose data is ``html``, line by line."""
    lines = html.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


def _in_thread(draw: Callable[[Viewer], dict[str, str]]) -> Fragments:
    """Fragments drawn by ``draw`` (which reads the store) in a worker thread."""

    async def render(now: Viewer) -> dict[str, str]:
        return await asyncio.to_thread(draw, now)

    return render


def _stream(request: Request, viewer: Viewer, fragments: Fragments) -> StreamingResponse:
    return StreamingResponse(
        _events(request, viewer, fragments),
        media_type="text/event-stream",
        headers={**SECURITY_HEADERS, "X-Accel-Buffering": "no"},
    )


async def _events(request: Request, viewer: Viewer, fragments: Fragments) -> AsyncIterator[str]:
    streams = streams_of(request)
    streams.open += 1
    try:
        async for event in _looks(request, viewer, fragments, streams):
            yield event
    finally:
        # Also when the browser goes: the response is cancelled, and this generator with it.
        streams.open -= 1


async def _looks(
    request: Request, viewer: Viewer, fragments: Fragments, streams: DashboardStreams
) -> AsyncIterator[str]:
    store, sessions = store_of(request), sessions_of(request.app)
    sent: dict[str, str] = {}
    started = quiet = time.monotonic()
    yield "retry: 2000\n\n"
    while not streams.closed:
        if sessions.get(viewer.session.id) is None:
            yield "event: signed-out\ndata: \n\n"
            return
        try:
            principal = await asyncio.to_thread(principal_for, store, viewer.session.token_hash)
        except UnauthenticatedError:
            sessions.end(viewer.session.id)
            yield "event: signed-out\ndata: \n\n"
            return
        viewer = Viewer(viewer.session, principal)
        try:
            found = await fragments(viewer)
        except AndonError:
            found = {}  # gone meanwhile (a pipeline, an environment): the page says so on reload
        now = time.monotonic()
        for name, html in found.items():
            if sent.get(name) != html:
                sent[name] = html
                quiet = now
                yield sse_event(name, html)
        if now - quiet >= streams.keepalive:
            quiet = now
            yield ": keep-alive\n\n"
        if now - started >= streams.lifetime:
            return
        await asyncio.sleep(streams.interval)


def _line(request: Request, viewer: Viewer) -> str:
    return fragment("_line.html", {"lines": line_context(store_of(request), viewer)})


@router.get("/events/line")
async def line(
    request: Request, viewer: Annotated[Viewer, Depends(signed_in)]
) -> StreamingResponse:
    """The banner of the line, for pages with no other live region."""

    return _stream(request, viewer, _in_thread(lambda now: {"line": _line(request, now)}))


@router.get("/events/board")
async def board(
    request: Request, viewer: Annotated[Viewer, Depends(signed_in)]
) -> StreamingResponse:
    """The line and the value-stream board."""

    def draw(now: Viewer) -> dict[str, str]:
        return {
            "line": _line(request, now),
            "board": fragment("_board.html", board_context(store_of(request), now)),
        }

    return _stream(request, viewer, _in_thread(draw))


@router.get("/events/pipelines")
async def pipelines(
    request: Request, viewer: Annotated[Viewer, Depends(signed_in)]
) -> StreamingResponse:
    """The line and the list of pipelines."""

    def draw(now: Viewer) -> dict[str, str]:
        return {
            "line": _line(request, now),
            "pipelines": fragment("_pipelines.html", pipelines_context(store_of(request), now)),
        }

    return _stream(request, viewer, _in_thread(draw))


@router.get("/events/pipelines/{pipeline_id}")
async def pipeline(
    request: Request,
    pipeline_id: int,
    viewer: Annotated[Viewer, Depends(signed_in)],
    job: str | None = None,
) -> StreamingResponse:
    """The line, one pipeline's jobs, and the log of the job chosen."""
    found = await asyncio.to_thread(store_of(request).pipelines.get, pipeline_id)
    viewer.check(found.project, Role.VIEWER, "see this pipeline")

    def draw(now: Viewer) -> dict[str, str]:
        context = pipeline_context(store_of(request), now, pipeline_id, job)
        return {
            "line": _line(request, now),
            "jobs": fragment("_jobs.html", context),
            "log": fragment("_log.html", context),
        }

    return _stream(request, viewer, _in_thread(draw))


@router.get("/events/projects/{project}/environments/{environment}")
async def environment(
    request: Request,
    project: str,
    environment: str,
    viewer: Annotated[Viewer, Depends(signed_in)],
) -> StreamingResponse:
    """The line, an environment's instances, and its rollout."""
    lifecycle = request.app.state.lifecycle
    store = store_of(request)
    viewer.check(project, Role.VIEWER, "see this environment")

    def draw(now: Viewer) -> dict[str, str]:
        now.check(project, Role.VIEWER, "see this environment")
        context = {
            "project": project,
            "environment_name": environment,
            "may_act": now.may(project, Role.DEPLOYER),
            "csrf": now.session.csrf,
            **rollout_context(store, project, environment),
        }
        return {
            "line": _line(request, now),
            "rollout": fragment("_rollout.html", context),
            # Sent only when the commands that make sense change: a swap loses focus.
            "actions": fragment("_actions.html", context),
        }

    async def render(now: Viewer) -> dict[str, str]:
        found = await asyncio.to_thread(draw, now)
        record = await asyncio.to_thread(lifecycle.get, project, environment)
        seen = await instances_within(lifecycle, record)
        found["instances"] = fragment("_instances.html", {"environment": record, **seen})
        return found

    return _stream(request, viewer, render)
