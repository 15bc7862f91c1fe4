"""``/api/v1/projects/{project}/flow``: the flow of work, stage by stage — per stage of the
value stream, its process time against its wait time, the lead time from commit to the last
environment split the same way, and the time the line spent stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request

from andon.errors import UsageError
from andon.server.api._shared import LONGEST_SPAN, JSONRoute, parse_span
from andon.server.flow_reports import flow_report
from andon.store import Store

router = APIRouter(tags=["flow"], route_class=JSONRoute)

DEFAULT_SINCE = "30d"


def window_start(text: str, now: datetime) -> datetime:
    """Where a window that ends ``now`` begins: ``text`` is a duration back (``30d``,
    ``12h``, ``90m``) or an ISO 8601 time (UTC unless it says otherwise); UsageError that
    says what to give otherwise."""
    text = text.strip()
    if text[:1].isdigit() and not text[-1:].isdigit() and "-" not in text and ":" not in text:
        return now - parse_span(text, "since")
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"since: {text!r} is neither a duration nor a time; give a duration back such as "
            "30d, 12h or 90m, or an ISO 8601 time such as 2026-03-01T00:00:00Z."
        ) from None
    start = start if start.tzinfo is not None else start.replace(tzinfo=UTC)
    if start >= now:
        raise UsageError(
            f"since: {text} is not in the past; give a time before now or a duration back."
        )
    if now - start > LONGEST_SPAN:
        raise UsageError(f"since: {text} is more than a century ago; give a later time.")
    return start


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


@router.get("/projects/{project}/flow")
def get_flow(
    project: str,
    request: Request,
    since: str = Query(
        default=DEFAULT_SINCE,
        description="Where the window begins: a duration back (30d, 12h, 90m) or an ISO time.",
    ),
) -> dict[str, Any]:
    """The flow of the project's work over the window: per stage (pipeline, artifact,
    each environment, release) the visits that ended in it, their process and wait time
    (totals and medians) and flow efficiency; the lead time from commit to the last
    environment split into process and wait; the line's stops, time stopped and longest
    stop."""
    now = datetime.now(UTC)
    return flow_report(_store(request), project=project, since=window_start(since, now), now=now)
