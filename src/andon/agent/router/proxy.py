"""A client's connection to the router: parse its requests (httptools), choose a version for
each, and hand each to an :class:`~andon.agent.router.exchange.Exchange`, one at a time
(pipelined requests wait their turn), with the limits that keep a bad client from hurting
the others: heads over ``limits.max_head_bytes`` get 431, malformed requests 400, and a
head that takes longer than ``timeouts.header`` closes the connection.

The listener (``server.py``) creates one per accepted connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from typing import TYPE_CHECKING, cast

from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserUpgrade,
    HttpRequestParser,
)

from andon.agent.router.choosing import decide_version
from andon.agent.router.exchange import Exchange
from andon.agent.router.heads import error_response, head_size, request_head

if TYPE_CHECKING:
    from andon.agent.router.server import Router

_log = logging.getLogger(__name__)
_monotonic = time.monotonic
_draw = random.getrandbits


class _RejectedError(Exception):
    """Raised from a parser callback to stop parsing a request the router refuses."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


class ClientConnection(asyncio.Protocol):
    """One client connection and the exchanges of its requests."""

    __slots__ = (
        "_awaiting_head",
        "_head_bytes",
        "_headers",
        "_parser",
        "_pausers",
        "_queue",
        "_receiving",
        "_url",
        "client_ip",
        "closed",
        "current",
        "deadline",
        "router",
        "transport",
        "tunnel",
        "writing_paused",
    )

    def __init__(self, router: Router) -> None:
        self.router = router
        self.transport: asyncio.Transport | None = None
        self._parser = HttpRequestParser(self)
        self.client_ip = b""
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._awaiting_head = True
        self.current: Exchange | None = None
        """The exchange whose response is being sent."""
        self._receiving: Exchange | None = None
        """The exchange whose request body is arriving."""
        self._queue: deque[Exchange] | None = None
        self._pausers: set[object] = set()
        self.deadline = 0.0
        """``time.monotonic()`` after which the client has taken too long; 0 for none."""
        self.closed = False
        self.tunnel = False
        self.writing_paused = False

    # asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.client_ip = str(peer[0]).encode() if peer else b""
        self.router.clients.add(self)
        self.deadline = _monotonic() + self.router.table.timeouts.header

    def data_received(self, data: bytes) -> None:
        if self.tunnel:
            current = self.current
            if current is not None:
                current.request_data(data)
                current.flush_request()
            return
        if self._awaiting_head:
            if not self._head_bytes:
                # A head begins: it has timeouts.header to arrive whole (slowloris).
                self.deadline = _monotonic() + self.router.table.timeouts.header
            self._head_bytes += len(data)
        elif self._receiving is not None:
            self.deadline = _monotonic() + self.router.table.timeouts.idle
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade as upgrade:
            self._upgraded(data[upgrade.args[0] :])
        except HttpParserCallbackError as exc:
            rejected = exc.__context__
            if isinstance(rejected, _RejectedError):
                self._reject(rejected.status, rejected.reason)
            else:
                _log.exception("The router failed on a request; closing its connection.")
                self.close()
        except HttpParserError:
            self._reject(400, "The request is not valid HTTP/1.1.")
        else:
            if self._awaiting_head and self._head_bytes > self.router.table.limits.max_head_bytes:
                self._reject(431, "The request line and headers are too large.")
        current = self.current
        if current is not None:
            current.flush_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.router.clients.discard(self)
        for exchange in (self.current, self._receiving, *(self._queue or ())):
            if exchange is not None:
                exchange.client_gone()
        self.current = self._receiving = self._queue = None

    def pause_writing(self) -> None:
        self.writing_paused = True
        if self.current is not None:
            self.current.client_writable(False)

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.current is not None:
            self.current.client_writable(True)

    # httptools callbacks ------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        head_bytes = self._head_bytes
        self._head_bytes = 0
        url, headers = self._url, self._headers
        self._url, self._headers = b"", []  # ready for the next request's head
        router = self.router
        table = router.table
        parser = self._parser
        method = parser.get_method()
        if method == b"CONNECT":
            raise _RejectedError(405, "The router does not tunnel CONNECT requests.")
        upgrade = parser.should_upgrade()
        limit = table.limits.max_head_bytes
        # The bytes read since the head began bound its size; count exactly only when they
        # exceed the limit (or were not counted: a head that followed a body in one read).
        if (head_bytes > limit or not head_bytes) and head_size(url, headers) > limit:
            raise _RejectedError(431, "The request line and headers are too large.")
        http10 = parser.get_http_version() == "1.0"
        head, seen, chunked = request_head(
            method,
            url,
            headers,
            self.client_ip,
            table.split.watched,
            upgrade=upgrade,
            http10=http10,
        )
        if not table.versions:
            raise _RejectedError(503, f"Environment {table.config.env} has no version deployed.")
        version = decide_version(table.split, seen, self.client_ip, _draw(32))
        if version is None:
            raise _RejectedError(
                503, f"Environment {table.config.env} sends no traffic to any version yet."
            )
        exchange = Exchange(
            self,
            table,
            table.versions[version],
            head,
            method=method,
            keep_alive=parser.should_keep_alive(),
            http10=http10,
            chunked_request=chunked,
            upgrade=upgrade,
            seen=seen,
        )
        if table.mirror is not None and not upgrade:
            exchange.mirror = router.mirroring.copy_for(
                table, head, chunked=chunked, head_only=method == b"HEAD"
            )
        self._receiving = exchange
        self.deadline = _monotonic() + table.timeouts.idle
        if self.current is None:
            self.current = exchange
            exchange.start()
        else:
            # A pipelined request waits for the one before it; stop reading meanwhile.
            if self._queue is None:
                self._queue = deque()
            self._queue.append(exchange)
            self.pause_reading_for(self)

    def on_body(self, body: bytes) -> None:
        receiving = self._receiving
        if receiving is not None:
            receiving.request_body(body)

    def on_message_complete(self) -> None:
        receiving = self._receiving
        self._receiving = None
        self._awaiting_head = True
        if receiving is not None:
            receiving.request_complete()
            if not receiving.finished:
                self.deadline = 0.0  # the instance's timeout applies now

    # called by exchanges ------------------------------------------------------------

    def exchange_finished(self, exchange: Exchange) -> None:
        if exchange.tunnel:
            return  # the connection is a tunnel now; it ends when either side closes
        if exchange is self._receiving:
            self._receiving = None
        if self._pausers:
            # It may have held reading back (its instance read slowly) and ended early.
            self.resume_reading_for(exchange)
        if exchange is not self.current:
            return
        self.current = None
        if exchange.close_after or not exchange.keep_alive:
            self.close()
            return
        queue = self._queue
        if queue:
            self.current = queue.popleft()
            self.current.start()
            self.current.flush_request()
        if not queue:
            self.resume_reading_for(self)
            if self._receiving is None:
                self.deadline = _monotonic() + self.router.table.timeouts.idle

    def pause_reading_for(self, pauser: object) -> None:
        if not self._pausers and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self._pausers.add(pauser)

    def resume_reading_for(self, pauser: object) -> None:
        if pauser in self._pausers:
            self._pausers.discard(pauser)
            if not self._pausers and self.transport is not None and not self.closed:
                self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    # the watchdog ------------------------------------------------------------------

    def timed_out(self) -> None:
        """The client was silent for too long: mid-head (slowloris) or idle."""
        if self.current is None and self._receiving is None and self._head_bytes:
            self.router.metrics.rejected["timeout"] += 1
        self.deadline = 0.0
        if self.transport is not None:
            self.transport.abort()

    # internals ---------------------------------------------------------------------

    def _upgraded(self, rest: bytes) -> None:
        self.tunnel = True
        current = self.current
        if current is None or not current.upgrade:
            self.close()
            return
        if rest:
            current.request_data(rest)

    def _reject(self, status: int, reason: str) -> None:
        key = {431: "head_too_large", 503: "no_version"}.get(status, "bad_request")
        self.router.metrics.rejected[key] = self.router.metrics.rejected.get(key, 0) + 1
        if self.current is None and self.transport is not None and not self.closed:
            self.transport.write(error_response(status, reason, close=True))
        self.close()
