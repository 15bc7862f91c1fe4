"""The HTTP server: ``http.server`` plumbing, access log and graceful shutdown.

Each connection is handled on its own thread (``ThreadingHTTPServer``). The
server speaks HTTP/1.0, one request per connection: no idle keep-alive
connections can hold up a shutdown, and the shop's traffic does not need them.

Graceful shutdown, on SIGTERM or SIGINT:

1. stop accepting new connections (``shutdown()`` ends the accept loop),
2. let in-flight requests finish (``server_close()`` joins the request
   threads, which is why they are not daemon threads),
3. return, so the process exits 0.

An orchestrator that sends SIGTERM during a blue-green switch therefore never
cuts off a checkout halfway.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

from shop.app import ShopApp
from shop.web import Request

logger = logging.getLogger(__name__)
access_log = logging.getLogger("shop.access")

# How often the accept loop checks for a shutdown request; bounds how long a
# shutdown waits before the loop notices.
POLL_INTERVAL_SECONDS = 0.1


class ShopRequestHandler(BaseHTTPRequestHandler):
    server: ShopHTTPServer
    protocol_version = "HTTP/1.0"
    server_version = "andon-shop"
    # A client that connects and then says nothing must not pin a thread (and
    # with it a graceful shutdown) forever.
    timeout = 10

    # http.server dispatches on do_<METHOD>; everything goes to the app, which
    # answers 404/405 itself. Other methods get http.server's 501.
    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        started = time.perf_counter()
        request = Request(
            method=self.command,
            target=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile,
        )
        response = self.server.app.handle(request)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        elapsed_ms = (time.perf_counter() - started) * 1000
        access_log.info(
            '%s "%s %s" %d %d %.1fms',
            self.client_address[0],
            self.command,
            self.path,
            response.status,
            len(response.body),
            elapsed_ms,
        )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Replaced by the access-log line in _dispatch, which has the duration.
        pass

    def log_message(self, format: str, *args: object) -> None:
        # What http.server still logs itself (malformed requests, 501s) goes
        # through logging like everything else.
        logger.warning("%s %s", self.address_string(), format % args)


class ShopHTTPServer(ThreadingHTTPServer):
    # Non-daemon request threads, joined by server_close(): in-flight requests
    # finish before the process exits.
    daemon_threads = False
    block_on_close = True
    # Bursts of concurrent checkouts queue rather than being refused.
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: ShopApp) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, ShopRequestHandler)

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        # socketserver's default prints a bare traceback to stderr. A client
        # that hangs up mid-response is routine; anything else is logged with
        # its traceback through logging.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            logger.info("%s: connection dropped: %s", client_address[0], exc)
        else:
            logger.exception("error while serving %s", client_address[0])

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"


def serve_until_signalled(server: ShopHTTPServer) -> None:
    """Serve on this (main) thread until SIGTERM or SIGINT, then shut down gracefully."""
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        name = signal.Signals(signum).name
        if stopping:
            logger.info("received %s; already shutting down", name)
            return
        stopping = True
        logger.info("received %s; finishing in-flight requests and shutting down", name)
        # shutdown() waits for serve_forever() to return, and serve_forever()
        # is running on this very thread; calling it here would deadlock.
        threading.Thread(target=server.shutdown, name="shop-shutdown", daemon=True).start()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.serve_forever(poll_interval=POLL_INTERVAL_SECONDS)
    finally:
        server.server_close()  # waits for the request threads
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    logger.info("stopped")


@contextmanager
def running_in_thread(app: ShopApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` on a background thread for the duration of the block; yields the URL.

    Port 0 picks a free port. Used by the tests and handy for local experiments.
    """
    server = ShopHTTPServer((host, port), app)
    thread = threading.Thread(
        target=server.serve_forever,
        # Short, so stopping is quick: test suites start and stop many servers.
        kwargs={"poll_interval": 0.01},
        name="shop-server",
        daemon=True,
    )
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
