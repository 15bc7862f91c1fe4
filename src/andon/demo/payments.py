"""A stand-in for the shop's payments service: a TCP listener on a port of its own, which
accepts connections and closes them. The new checkout pays through it, and the
``new-checkout`` flag's guard checks it from inside the shoppers' process; the demo takes
it down and brings it back on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from andon.demo.stack import free_port


class Payments:
    """A listener at ``127.0.0.1:port`` while up; nothing there while down."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """``host:port``, as andon.yaml's guard names it."""
        return f"127.0.0.1:{self.port}"

    @property
    def up(self) -> bool:
        return self._sock is not None

    def start(self) -> None:
        """Listen (again) on the port; connections are accepted and closed at once."""
        if self._sock is not None:
            return
        sock = socket.socket()
        # The port was ours a moment ago: its closed connections must not hold it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: connections are refused from now on."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        if self._thread is not None:
            self._thread.join(2)

    def pay(self, timeout: float = 1.0) -> bool:
        """Whether a payment could reach the service now (a connection is accepted)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout):
                return True
        except OSError:
            return False

    @staticmethod
    def _serve(sock: socket.socket) -> None:
        while True:
            try:
                connection, _ = sock.accept()
            except OSError:  # closed by stop()
                return
            connection.close()
