"""One request and its response through the proxy: borrow a connection to an instance of
the chosen version, stream the request body up and the response body down (never holding
a whole body), and count the outcome.

A client connection (``proxy.py``) creates an exchange when a request head arrives and
feeds it the body; the upstream connection feeds it the response. Flow control runs both
ways: a client that reads slowly pauses the instance's socket, an instance that reads
slowly pauses the client's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from andon.agent.router.choosing import decide_version
from andon.agent.router.heads import (
    UNTIL_CLOSE,
    error_response,
    response_framing,
    rewrite_response_head,
    switching_head,
)
from andon.agent.router.pools import UpstreamUnreachableError, connect_first
from andon.agent.router.table import RoutingTable, VersionRoute

if TYPE_CHECKING:
    from andon.agent.router.mirroring import MirrorCopy
    from andon.agent.router.proxy import ClientConnection
    from andon.agent.router.upstream import UpstreamConnection

_perf_counter = time.perf_counter
_monotonic = time.monotonic
_draw = random.getrandbits

# Request body the proxy holds for an exchange that has no connection yet before it stops
# reading from the client.
_BUFFER_LIMIT = 256 * 1024
_LAST_CHUNK = b"0\r\n\r\n"
_CRLF = b"\r\n"


class Exchange:
    """A request on its way to an instance of ``route``'s version, and its response."""

    __slots__ = (
        "_pending",
        "_pending_bytes",
        "chunked_request",
        "client",
        "close_after",
        "finished",
        "head_only",
        "http10",
        "keep_alive",
        "mirror",
        "request_done",
        "response_started",
        "route",
        "seen",
        "started",
        "status",
        "table",
        "tunnel",
        "upgrade",
        "upstream",
    )

    def __init__(
        self,
        client: ClientConnection,
        table: RoutingTable,
        route: VersionRoute,
        head: bytes,
        *,
        method: bytes,
        keep_alive: bool,
        http10: bool,
        chunked_request: bool,
        upgrade: bool,
        seen: Mapping[bytes, bytes] | None = None,
    ) -> None:
        self.client = client
        self.seen = seen
        """The request's headers the routing looks at, to choose again while held."""
        self.table = table
        self.route = route
        self.started = _perf_counter()
        self.head_only = method == b"HEAD"
        self.keep_alive = keep_alive
        self.http10 = http10
        self.chunked_request = chunked_request
        self.upgrade = upgrade
        self.upstream: UpstreamConnection | None = None
        self.mirror: MirrorCopy | None = None
        self._pending: list[bytes] = [head]
        """Bytes for the instance not yet written: all of them until a connection is
        attached, then what one read from the client produced (written in one go)."""
        self._pending_bytes = 0
        self.request_done = False
        self.response_started = False
        self.finished = False
        self.close_after = upgrade
        self.tunnel = False
        self.status = 0
        route.metrics.in_flight += 1

    # the request, from the client ---------------------------------------------------

    def start(self) -> None:
        """Send the request to the next ready instance of the version (or hold it until
        the routing gives it one)."""
        pools = self.route.pools
        if not pools:
            self.client.router.spawn(self._hold())
            return
        index = self.route.turn() % len(pools)
        connection = pools[index].take()
        if connection is not None:
            self._attach(connection)
        else:
            self.client.router.spawn(self._connect(index))

    async def _hold(self) -> None:
        """Wait for a routing change that gives the request a version with a ready
        instance (chosen again as the proxy chose: routes, stickiness, weights), up to
        ``timeouts.hold``; 503 after that."""
        router = self.client.router
        deadline = _monotonic() + self.table.timeouts.hold
        while not self.finished:
            remaining = deadline - _monotonic()
            if remaining <= 0 or not await router.changed(remaining):
                if not self.finished:
                    self.fail(503, f"No ready instance of version {self.route.name} to answer.")
                return
            table = router.table
            version = decide_version(table.split, self.seen, self.client.client_ip, _draw(32))
            route = table.versions.get(version) if version is not None else None
            if route is not None and route.pools and not self.finished:
                self.route.metrics.in_flight -= 1
                route.metrics.in_flight += 1
                self.route, self.table = route, table
                self.start()
                return

    async def _connect(self, index: int) -> None:
        try:
            connection = await connect_first(self.route.pools, index, self.table.timeouts.connect)
        except UpstreamUnreachableError as exc:
            if not self.finished:
                self.fail(502, f"No instance of version {self.route.name} answered: {exc}.")
            return
        if self.finished:
            connection.pool.give_back(connection, _monotonic())
            return
        self._attach(connection)
        self.flush_request()

    def _attach(self, connection: UpstreamConnection) -> None:
        self.upstream = connection
        connection.reset(self, head_only=self.head_only)
        if self.request_done:
            connection.arm(self.table.timeouts.upstream)
        if self.client.writing_paused:
            connection.pause_reading()
        if self._pending_bytes > _BUFFER_LIMIT:
            self.client.resume_reading_for(self)
        self._pending_bytes = 0

    def request_body(self, chunk: bytes) -> None:
        if self.chunked_request:
            self._pending += (b"%x\r\n" % len(chunk), chunk, _CRLF)
        else:
            self._pending.append(chunk)
        if self.mirror is not None:
            self.mirror.request_body(chunk)
        if self.upstream is None:
            self._pending_bytes += len(chunk)
            if self._pending_bytes > _BUFFER_LIMIT:
                self.client.pause_reading_for(self)

    def request_data(self, data: bytes) -> None:
        """Bytes of an upgraded connection (after the request head), passed through as is
        by the next :meth:`flush_request`."""
        self._pending.append(data)

    def request_complete(self) -> None:
        self.request_done = True
        if self.chunked_request:
            self._pending.append(_LAST_CHUNK)
        if self.mirror is not None:
            self.mirror.request_complete()
        if self.upstream is not None:
            self.upstream.arm(self.table.timeouts.upstream)

    def flush_request(self) -> None:
        """Write what the client's last read produced, in one go."""
        upstream = self.upstream
        if upstream is not None and self._pending:
            assert upstream.transport is not None
            pending = self._pending
            upstream.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
            self._pending.clear()

    # the response, from the instance ------------------------------------------------

    def response_start(self, status: int, head: bytes, rest: bytes) -> None:
        self.status = status
        self.response_started = True
        upstream = self.upstream
        # A body that ends with the instance's connection can only end the client's too.
        # llhttp says "no keep-alive" for every such body, so look closer only then.
        if (
            upstream is not None
            and not upstream.keep_alive
            and not self.head_only
            and response_framing(head, status, head_only=False) == UNTIL_CLOSE
        ):
            upstream.until_close = True
            self.close_after = True
        head = rewrite_response_head(
            head,
            self.route.version_line,
            close=self.close_after or not self.keep_alive,
            http10=self.http10,
        )
        self._write(head + rest if rest else head)

    def response_interim(self, head: bytes) -> None:
        # 100 Continue and friends: an HTTP/1.0 client would not understand them.
        if not self.http10:
            self._write(head)

    def response_body(self, data: bytes) -> None:
        self._write(data)

    def response_complete(self, keep_alive: bool) -> None:
        upstream = self.upstream
        self.upstream = None
        if upstream is not None:
            if keep_alive and self.request_done:
                upstream.pool.give_back(upstream, _monotonic())
            else:
                # An instance may answer before the whole body is sent: the client
                # connection reads and drops the rest; this one cannot be reused.
                upstream.close()
        self._finish(self.status)

    def upstream_upgraded(self, head: bytes, rest: bytes) -> None:
        """The instance switched protocols (101): from now on, bytes pass through."""
        self.tunnel = True
        self.status = 101
        self._write(switching_head(head, self.route.version_line) + rest)
        self.flush_request()
        self._finish(101)

    def _write(self, data: bytes) -> None:
        if not self.client.closed:
            transport = self.client.transport
            assert transport is not None
            transport.write(data)

    def upstream_data(self, data: bytes) -> None:
        self._write(data)

    def upstream_lost(self, reason: str) -> None:
        self.upstream = None
        if self.tunnel:
            self.client.close()
        elif self.response_started:
            # Part of a response went out: the client can only learn of the failure by the
            # connection closing under it.
            self.client.close()
            self._finish(502)
        elif not self.finished:
            self.fail(502, f"The instance of version {self.route.name} {reason}.")

    def upstream_timed_out(self) -> None:
        upstream = self.upstream
        self.upstream = None
        if upstream is not None:
            upstream.abort()
        if self.response_started:
            self.client.close()
            self._finish(504)
        else:
            timeout = self.table.timeouts.upstream
            self.fail(504, f"Version {self.route.name} did not answer within {timeout:g} s.")

    def upstream_writable(self, writable: bool) -> None:
        if writable:
            self.client.resume_reading_for(self)
        else:
            self.client.pause_reading_for(self)

    def client_writable(self, writable: bool) -> None:
        upstream = self.upstream
        if upstream is not None:
            if writable:
                upstream.resume_reading()
            else:
                upstream.pause_reading()

    # endings ------------------------------------------------------------------------

    def fail(self, status: int, text: str) -> None:
        """Answer with the router's own error response instead of an instance's."""
        close = self.close_after or not self.keep_alive
        if not self.client.closed:
            transport = self.client.transport
            assert transport is not None
            transport.write(error_response(status, text, self.route.version_line, close=close))
        self._finish(status)

    def client_gone(self) -> None:
        """The client disconnected: drop the instance's connection unless it is done."""
        if self.mirror is not None and not self.request_done:
            self.mirror.abandon()
        upstream = self.upstream
        self.upstream = None
        if upstream is not None:
            upstream.abort()
        if not self.finished:
            self.finished = True
            self.route.metrics.in_flight -= 1
            self.route.metrics.cancelled += 1

    def _finish(self, status: int) -> None:
        if self.finished:
            return
        self.finished = True
        if self.mirror is not None and not self.request_done:
            self.mirror.abandon()  # the rest of the body will not come through here
        metrics = self.route.metrics
        metrics.in_flight -= 1
        metrics.observe(status, _perf_counter() - self.started)
        self.client.exchange_finished(self)
