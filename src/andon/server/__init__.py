"""The control plane: the HTTP API (OpenAPI at ``/api/v1/openapi.json``), the dashboard
and the controllers. ``andon server`` and ``andon start`` run it."""

from __future__ import annotations

import typing

from andon._lazy import lazy_members

if typing.TYPE_CHECKING:
    from andon.server.app import create_app
    from andon.server.binding import bind
    from andon.server.running import serve

__all__ = ["bind", "create_app", "serve"]

# Names are imported when first used: ``andon start`` checks its port with ``bind`` and
# must not pay for FastAPI and every route, which only the server's own process needs.
__getattr__, __dir__ = lazy_members(
    __name__, {"bind": "binding", "create_app": "app", "serve": "running"}
)
