"""Running the control plane in the foreground: open the store, bind the port, serve.

Errors that stop the start (database unreachable, port taken) surface before anything
listens, as one-line Andon errors; ``andon server`` prints them, ``andon start`` reads
them from the log.
"""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn

from andon.server.app import create_app
from andon.server.binding import bind
from andon.settings import Settings
from andon.store import open_store

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Server(uvicorn.Server):
    """uvicorn's server, which first ends the app's long-lived streams when it stops:
    uvicorn waits for every open response before the app's shutdown runs, and an SDK's
    flag stream never ends by itself."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        close_streams = getattr(getattr(self.config.app, "state", None), "close_streams", None)
        if callable(close_streams):
            close_streams()
        await super().shutdown(sockets)


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve the API until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    # Health checks read the schema revision; alembic would log two lines for each.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    settings.home.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.database_url)
    try:
        sock = bind(host, port)
        app = create_app(settings, store)
        config = uvicorn.Config(
            app, log_level="info", access_log=False, server_header=False, log_config=None
        )
        logging.getLogger("andon.server").info(
            "Andon %s listening on http://%s:%d (database: %s)",
            app.version,
            host,
            sock.getsockname()[1],
            store.url,
        )
        Server(config).run(sockets=[sock])
    finally:
        store.close()
