"""The control plane's listening socket, made before anything else so that a port in use
is one line from ``andon start`` rather than a background process's log (this module
imports nothing heavy: the CLI calls it)."""

from __future__ import annotations

import errno
import socket

from andon.errors import PortInUseError, UsageError


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a one-line error naming the port."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on host '{host}': {exc.strerror}.") from exc
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(info[4])
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {port} on {host} is already in use; stop what uses it or choose "
                "another with --port."
            ) from exc
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}.") from exc
    return sock
