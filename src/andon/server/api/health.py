"""``GET /api/v1/health``: whether the control plane and its database answer."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import BaseModel

from andon import __version__
from andon.server.api._shared import JSONRoute
from andon.store import Store

router = APIRouter(tags=["health"], route_class=JSONRoute)


class Health(BaseModel):
    """The control plane's health."""

    status: str
    version: str
    database: str
    schema_revision: str
    uptime_seconds: float


@router.get("/health", response_model=Health)
def get_health(request: Request) -> Health:
    """Answer 200 while the server runs and its database answers."""
    store: Store = request.app.state.store
    return Health(
        status="ok",
        version=__version__,
        database=store.dialect,
        schema_revision=store.schema_revision(),
        uptime_seconds=round(time.time() - request.app.state.started, 3),
    )
