"""The control plane: the HTTP API (OpenAPI at ``/api/v1/openapi.json``), and later the
dashboard and the controllers. ``andon server`` and ``andon start`` run it."""

from andon.server.app import create_app
from andon.server.running import bind, serve

__all__ = ["bind", "create_app", "serve"]
