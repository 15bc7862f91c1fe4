"""A small, real HTTP server speaking the SDK endpoints of docs/flags.md, for the flag
SDK's tests: ``GET /api/v1/sdk/flags``, ``GET /api/v1/sdk/stream`` (server-sent events,
chunked, with keep-alive comments) and ``POST /api/v1/sdk/events``.

A test changes the flag set (:meth:`SdkServer.publish`), cuts the streams in the middle
of an event (:meth:`SdkServer.cut_streams`), sends a stale event
(:meth:`SdkServer.send_raw`), makes the events endpoint fail, and stops and starts the
server on the same port. It runs in threads of the test's own process
(``ThreadingHTTPServer``), on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "andon_fc_test"

CHECKOUT = {
    "flags": {
        "new-checkout": {
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"if": [{"ends_with": [{"var": "email"}, "@andon-shop.example"]}, "on"]},
        },
        "banner": {"variants": {"blue": "blue", "red": "red"}, "defaultVariant": "blue"},
    }
}


def wait_until(condition: Callable[[], Any], timeout: float = 15.0, every: float = 0.01) -> Any:
    """Poll ``condition`` until it is truthy (its value) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {condition}")
        time.sleep(every)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: SdkServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # As uvicorn does: small writes (an event, a comment) leave at once.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner.connections.add(self.connection)

    def finish(self) -> None:
        self.server.owner.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.server.owner.token}":
            return True
        self._send_json(401, {"detail": "a client token is required"})
        return False

    def do_GET(self) -> None:
        owner = self.server.owner
        path = urlsplit(self.path)
        owner.requests.append(("GET", path.path))
        if path.path == "/health":  # a dependency for HTTP guards to check
            self._send_json(200, {"status": "ok"})
            return
        if not self._authorised():
            return
        if path.path == "/api/v1/sdk/flags":
            version, payload = owner.current()
            if self.headers.get("If-None-Match") == f'"{version}"':
                self._send_json(304, None, {"ETag": f'"{version}"'})
            else:
                self._send_json(200, payload, {"ETag": f'"{version}"'})
        elif path.path == "/api/v1/sdk/stream":
            client = parse_qs(path.query).get("client", [""])[0]
            owner.streams.append((client, self.headers.get("Last-Event-ID")))
            self._stream()
        else:
            self._send_json(404, {"detail": "not found"})

    def do_POST(self) -> None:
        owner = self.server.owner
        owner.requests.append(("POST", self.path))
        if not self._authorised():
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/api/v1/sdk/events":
            self._send_json(404, {"detail": "not found"})
        elif owner.events_status != 202:
            self._send_json(owner.events_status, {"detail": "try again"})
        else:
            owner.batches.append(json.loads(body))
            self._send_json(202, {})

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self) -> None:
        owner = self.server.owner
        # Read before the headers go: once a client sees them, a test may cut or send.
        raw_seen = len(owner.raw_events)
        cuts_seen = owner.cuts
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        last = self.headers.get("Last-Event-ID")
        sent = int(last) if last and last.isdigit() else None
        try:
            with owner.changed:
                while not owner.stopping:
                    if owner.cuts != cuts_seen:
                        self._cut(owner.version + 1, owner.cut_document)
                        return
                    version, payload = owner.current()
                    if sent != version:
                        self._chunk(_event(version, payload))
                        sent = version
                    for raw in owner.raw_events[raw_seen:]:
                        self._chunk(raw)
                    raw_seen = len(owner.raw_events)
                    if not owner.changed.wait(owner.keepalive):
                        self._chunk(": keep-alive\n\n")
                        owner.keepalives += 1
        except OSError:
            pass
        finally:
            self.close_connection = True

    def _cut(self, version: int, document: Mapping[str, Any]) -> None:
        # Everything of the event but the blank line that ends it, then the connection
        # drops without the chunked body's end: the event must not be applied.
        whole = _event(version, {"flags": document, "guards": {}})
        self._chunk(whole[: whole.rindex("\n\n") + 1])
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _event(version: int, payload: Mapping[str, Any]) -> str:
    data = {"version": version, "flags": payload["flags"], "guards": payload["guards"]}
    return f"id: {version}\nevent: flags\ndata: {json.dumps(data)}\n\n"


class SdkServer:
    """The SDK side of an Andon server, for one environment's flag set."""

    def __init__(self, document: Mapping[str, Any] | None = None, *, keepalive: float = 0.2):
        self.token = TOKEN
        self.keepalive = keepalive
        self.changed = threading.Condition()
        self.version = 1
        self.document: Mapping[str, Any] = document if document is not None else CHECKOUT
        self.guards: Mapping[str, Any] = {}
        self.batches: list[dict[str, Any]] = []
        self.streams: list[tuple[str, str | None]] = []
        self.requests: list[tuple[str, str]] = []
        self.raw_events: list[str] = []
        self.events_status = 202
        self.cuts = 0
        self.cut_document: Mapping[str, Any] = {}
        self.keepalives = 0
        self.stopping = False
        self.connections: set[socket.socket] = set()
        self.port = 0
        self._httpd: _Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def current(self) -> tuple[int, dict[str, Any]]:
        """The version and SDK payload served now."""
        payload = {
            "project": "shop",
            "environment": "prod",
            "version": self.version,
            "flags": self.document,
            "guards": self.guards,
        }
        return self.version, payload

    def publish(self, document: Mapping[str, Any], guards: Mapping[str, Any] | None = None) -> int:
        """Make ``document`` (and ``guards``) the next version; streams get it at once."""
        with self.changed:
            self.document = document
            if guards is not None:
                self.guards = guards
            self.version += 1
            self.changed.notify_all()
            return self.version

    def cut_streams(self, document: Mapping[str, Any]) -> None:
        """Send every open stream an event of the next version with ``document``, all
        but its closing blank line, and drop the connection; the set does not change."""
        with self.changed:
            self.cut_document = document
            self.cuts += 1
            self.changed.notify_all()

    def send_raw(self, version: int, document: Mapping[str, Any]) -> None:
        """Send an event of ``version`` to the open streams without changing the set."""
        with self.changed:
            self.raw_events.append(_event(version, {"flags": document, "guards": {}}))
            self.changed.notify_all()

    def start(self) -> SdkServer:
        """Listen (again) on the same port, or a free one the first time."""
        self.stopping = False
        self._httpd = _Server(("127.0.0.1", self.port), self)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every open connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
        httpd.shutdown()
        httpd.server_close()
        # Kept-alive connections would otherwise go on being answered by their threads.
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def exposures(self) -> list[dict[str, Any]]:
        return [item for batch in self.batches for item in batch.get("exposures", [])]

    def events(self) -> list[dict[str, Any]]:
        return [item for batch in self.batches for item in batch.get("events", [])]

    def flips(self) -> list[dict[str, Any]]:
        return [item for batch in self.batches for item in batch.get("guards", [])]

    def applied(self, client: str | None = None) -> list[int]:
        return [
            batch["applied"]
            for batch in self.batches
            if "applied" in batch and client in (None, batch.get("client"))
        ]


@contextlib.contextmanager
def running(document: Mapping[str, Any] | None = None) -> Iterator[SdkServer]:
    """An SdkServer listening for the length of the block."""
    server = SdkServer(document).start()
    try:
        yield server
    finally:
        server.stop()
