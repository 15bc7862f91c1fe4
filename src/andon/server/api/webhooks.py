"""``GET /api/v1/webhooks/deliveries``: the last outgoing webhook deliveries and how each
ended (delivered, or failed after its attempts with the last error), newest first; kept
in memory by the app's :class:`~andon.server.notifying.Notifier` since the server started.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from andon.server.api._shared import JSONRoute
from andon.server.notifying import Notifier

router = APIRouter(tags=["webhooks"], route_class=JSONRoute)


@router.get("/webhooks/deliveries")
def list_deliveries(request: Request) -> list[dict[str, Any]]:
    """The last deliveries (up to 200), newest first; receivers are named by host only."""
    notifier: Notifier = request.app.state.notifier
    return [delivery.to_dict() for delivery in notifier.deliveries()]
