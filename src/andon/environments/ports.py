"""The ports environments' routers listen on: one per environment on 127.0.0.1, chosen
by the server when the environment is created and kept on its record, so that its URL
stays the same for as long as it lives (and across ``env recreate``).

:meth:`~andon.environments.EnvironmentLifecycle.begin` calls :func:`choose_router_port`.
"""

from __future__ import annotations

import socket
from collections.abc import Collection

from andon.errors import ConflictError

ROUTER_HOST = "127.0.0.1"
_ATTEMPTS = 100


def choose_router_port(taken: Collection[int], wanted: int | None = None) -> int:
    """A port that nothing listens on and that is not ``taken`` by another environment:
    ``wanted`` when it is such a port, else one the system hands out."""
    if wanted is not None and wanted not in taken and _bindable(wanted):
        return wanted
    for _ in range(_ATTEMPTS):
        with socket.socket() as sock:
            sock.bind((ROUTER_HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port
    raise ConflictError("no free port for the environment's router; free some and retry.")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        # As the router will: a port in TIME_WAIT (a router just stopped) is free to take.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ROUTER_HOST, port))
        except OSError:
            return False
    return True
