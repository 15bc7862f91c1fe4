"""The dashboard: server-rendered HTML pages (Jinja2), enhanced by htmx and refreshed
live over Server-Sent Events; readable without JavaScript, signed into with an API token.

Pages: the value-stream board (``/``), delivery (``/delivery``: DORA's metrics and the
flow of work), pipelines with live logs, environments with their
rollouts live and the buttons that steer them, flags, experiments and the audit trail; the
line's banner on every one. :func:`install` adds it to the control plane's app
(``andon.server.app``): its routes after the API's, the sessions, the handlers that turn a
missing session or a forged form into pages, and the closing of its streams when the
server stops.
"""

from fastapi import APIRouter, FastAPI

from andon.server.dashboard import (
    _web,
    assets,
    audit,
    board,
    delivery,
    environments,
    experiments,
    flags,
    pipelines,
    rollouts,
    sessions,
    signing_in,
    streams,
)

__all__ = ["install", "router"]

router = APIRouter(include_in_schema=False)
for _module in (
    signing_in,
    board,
    delivery,
    pipelines,
    environments,
    rollouts,
    flags,
    experiments,
    audit,
    streams,
    assets,
):
    router.include_router(_module.router)


def install(app: FastAPI) -> None:
    """Serve the dashboard from ``app`` (after its API routes, so that those match first)."""
    app.state.dashboard_sessions = sessions.Sessions()
    app.state.dashboard_streams = live = streams.DashboardStreams()
    app.include_router(router)
    _web.install_handlers(app)
    # The server's runner calls close_streams before it waits for open responses: the
    # dashboard's streams must end then too, or they would hold a stopping server.
    closing = getattr(app.state, "close_streams", None)

    def close_streams() -> None:
        live.close()
        if callable(closing):
            closing()

    app.state.close_streams = close_streams
