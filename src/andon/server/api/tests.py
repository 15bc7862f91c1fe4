"""``/api/v1/tests/flaky``: tests that failed and then passed on a retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request

from andon.server.api._shared import JSONRoute
from andon.store import Store

router = APIRouter(tags=["tests"], route_class=JSONRoute)

FLAKY_REPORT_THRESHOLD = 3
"""A test flaky this often within the window is reported as needing attention."""


@router.get("/tests/flaky")
def flaky_tests(
    request: Request,
    project: str | None = None,
    days: int = Query(default=30, ge=1, le=3650),
) -> dict[str, Any]:
    """Flaky tests over the last ``days`` days, most often flaky first."""
    store: Store = request.app.state.store
    since = datetime.now(UTC) - timedelta(days=days)
    tests = []
    for summary in store.flaky.summary(project, since=since):
        data = summary.to_dict()
        data["needs_attention"] = summary.count >= FLAKY_REPORT_THRESHOLD
        tests.append(data)
    return {"since": since.isoformat(), "threshold": FLAKY_REPORT_THRESHOLD, "tests": tests}
