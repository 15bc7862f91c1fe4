"""``/audit``: the audit trail, newest first — who did what to which target, with what it
was before and after — filtered by actor and action, and whether its hash chain holds.
Admins only, as ``GET /api/v1/audit``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from andon.server.dashboard._web import Viewer, page, signed_in, store_of
from andon.store import Role

router = APIRouter(include_in_schema=False)


def audit_context(
    request: Request, viewer: Viewer, actor: str, action: str, limit: int
) -> dict[str, Any]:
    """The newest entries that match, and the chain's check."""
    viewer.check(None, Role.ADMIN, "read the audit trail")
    store = store_of(request)
    entries = store.audit.list(actor=actor or None, action=action or None, limit=limit)
    return {
        "entries": [
            {"entry": entry, "before": _compact(entry.before), "after": _compact(entry.after)}
            for entry in entries
        ],
        "check": store.audit.verify(),
        "actor": actor,
        "action": action,
        "limit": limit,
    }


def _compact(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)


@router.get("/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    viewer: Annotated[Viewer, Depends(signed_in)],
    actor: str = Query("", max_length=64),
    action: str = Query("", max_length=200),
    limit: int = Query(100, ge=1, le=1000),
) -> HTMLResponse:
    """The audit trail."""
    return page(
        request, viewer, "audit.html", lambda: audit_context(request, viewer, actor, action, limit)
    )
