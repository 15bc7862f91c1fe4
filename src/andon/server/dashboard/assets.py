"""``/static/...``: the dashboard's stylesheet and its two vendored scripts — htmx 2.0.11
and its SSE extension 2.2.4, as published on npm (see ``static/VENDORED.md``) — served
from the package, by name from a fixed list (nothing else under the directory is served).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from andon.errors import NotFoundError

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).parent / "static"
HTMX_VERSION = "2.0.11"
HTMX_SSE_VERSION = "2.2.4"
FILES = {
    "dashboard.css": "text/css; charset=utf-8",
    "htmx.min.js": "text/javascript; charset=utf-8",
    "htmx-ext-sse.min.js": "text/javascript; charset=utf-8",
}


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """One of :data:`FILES`."""
    media_type = FILES.get(name)
    if media_type is None:
        raise NotFoundError(f"the dashboard has no file {name!r}.")
    return FileResponse(
        STATIC / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
