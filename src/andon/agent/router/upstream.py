"""One kept-alive connection to an instance: it writes what an exchange sends and reads
the responses, handing each to its current :class:`ResponseSink` (a client's exchange, or a
mirrored copy that discards it).

Responses pass through as the instance wrote them: the head is cut out of the bytes and
given to the sink to rewrite, and the body (Content-Length or chunked, framing included)
is forwarded untouched; httptools reads along only to say where the response ends. That
keeps the hot path to a few calls per response instead of one per header and per piece.

Pools (``pools.py``) own these connections; an exchange borrows one for a request and gives
it back when the response is complete and the connection can carry another.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Protocol, cast

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

if TYPE_CHECKING:
    from andon.agent.router.pools import UpstreamPool

_monotonic = time.monotonic
_END_OF_HEAD = b"\r\n\r\n"
# A response head larger than this is not HTTP the router will pass on.
_MAX_RESPONSE_HEAD = 64 * 1024


class ResponseSink(Protocol):
    """Where an upstream connection delivers what it reads for the request it carries."""

    def response_start(self, status: int, head: bytes, rest: bytes) -> None:
        """The final response's head (status line to blank line) and the bytes after it."""

    def response_interim(self, head: bytes) -> None:
        """A 1xx response (100 Continue, 103 Early Hints); the final one follows."""

    def response_body(self, data: bytes) -> None:
        """More of the body, framing included."""

    def response_complete(self, keep_alive: bool) -> None:
        """The response is over; ``keep_alive`` says whether the connection can be reused."""

    def upstream_upgraded(self, head: bytes, rest: bytes) -> None:
        """The instance switched protocols (101); from now on bytes pass through."""

    def upstream_data(self, data: bytes) -> None:
        """Bytes of a switched (tunnelled) connection."""

    def upstream_lost(self, reason: str) -> None:
        """The connection broke before the response was complete."""

    def upstream_writable(self, writable: bool) -> None:
        """The instance reads slower than the request is sent (False), or caught up."""


class UpstreamConnection(asyncio.Protocol):
    """A connection to one instance, reading the responses to the requests written on it."""

    __slots__ = (
        "_complete",
        "_in_head",
        "_parser",
        "_partial",
        "_status",
        "abandoned",
        "closed",
        "deadline",
        "head_only",
        "idle_since",
        "keep_alive",
        "pool",
        "reading_paused",
        "sink",
        "timeout",
        "transport",
        "tunnel",
        "until_close",
    )

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.sink: ResponseSink | None = None
        self._parser = HttpResponseParser(self)
        self._in_head = True
        self._partial = b""
        self._status = 0
        self._complete = False
        self.keep_alive = False
        """Whether the instance keeps the connection after the current response (known
        once its head is read: no Connection: close, and a body that does not end with
        the connection)."""
        self.head_only = False
        """The request was HEAD: the response has no body whatever its headers say."""
        self.until_close = False
        """The response's body has no length and ends when the instance closes."""
        self.tunnel = False
        self.reading_paused = False
        self.deadline = 0.0
        """``time.monotonic()`` after which the instance has taken too long; 0 for none."""
        self.timeout = 0.0
        self.idle_since = 0.0
        self.closed = False
        self.abandoned = False

    def reset(self, sink: ResponseSink, *, head_only: bool) -> None:
        """Carry the next request's response to ``sink``."""
        if self.reading_paused:
            # Its last client read slowly to the end; this one starts afresh.
            self.resume_reading()
        self.sink = sink
        self.head_only = head_only
        self.until_close = False
        self._in_head = True
        self._complete = False

    @property
    def received(self) -> bool:
        """Whether any byte of the current response has arrived."""
        return not self._in_head or bool(self._partial)

    # asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        self.pool.opened(self)
        if self.abandoned:  # its connect timed out while the connection was being made
            transport.close()

    def data_received(self, data: bytes) -> None:
        sink = self.sink
        if sink is None:
            # Bytes on an idle connection answer nothing we sent: it cannot be trusted.
            self.close()
            return
        if self.tunnel:
            sink.upstream_data(data)
            return
        if self.deadline:
            self.deadline = _monotonic() + self.timeout
        if self._in_head:
            self._read_head(sink, data)
            return
        try:
            self._parser.feed_data(data)
        except HttpParserError:
            if not self._complete:
                self._broken(sink, "sent a response body that is not valid HTTP")
                return
            # Bytes after the end of a complete response: deliver the response, but never
            # reuse a connection that is out of step.
            sink.response_body(data)
            self._finish(sink, keep_alive=False)
            return
        sink.response_body(data)
        if self._complete:
            self._finish(sink)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.closed(self)
        sink = self.sink
        if sink is None:
            return
        self.sink = None
        if self.until_close and not self._in_head and not self.tunnel:
            sink.response_complete(False)
        else:
            sink.upstream_lost("closed the connection before the response was complete")

    def pause_writing(self) -> None:
        if self.sink is not None:
            self.sink.upstream_writable(False)

    def resume_writing(self) -> None:
        if self.sink is not None:
            self.sink.upstream_writable(True)

    # httptools callbacks: only the two that say where a response is ------------------

    def on_headers_complete(self) -> None:
        parser = self._parser
        self._status = parser.get_status_code()
        # Only meaningful while the parser is on this message: it resets after the end.
        self.keep_alive = parser.should_keep_alive()

    def on_message_complete(self) -> None:
        self._complete = True

    # used by exchanges --------------------------------------------------------------

    def pause_reading(self) -> None:
        """Stop reading from the instance (its client reads slower than it writes)."""
        if self.transport is not None and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()
            if self.deadline:
                self.arm(self.timeout)

    def arm(self, timeout: float) -> None:
        """Start the clock: the instance must answer (and keep answering) within ``timeout``."""
        self.timeout = timeout
        self.deadline = _monotonic() + timeout

    def close(self) -> None:
        self.sink = None
        if self.transport is not None:
            self.transport.close()
        else:
            self.abandoned = True

    def abort(self) -> None:
        """Close at once, dropping anything not yet written (the response is not wanted)."""
        self.sink = None
        if self.transport is not None:
            self.transport.abort()
        else:
            self.abandoned = True

    # internals ---------------------------------------------------------------------

    def _read_head(self, sink: ResponseSink, data: bytes) -> None:
        if self._partial:
            data = self._partial + data
            self._partial = b""
        end = data.find(_END_OF_HEAD)
        if end < 0:
            if len(data) > _MAX_RESPONSE_HEAD:
                self._broken(sink, "sent a response head larger than 64 KiB")
            else:
                self._partial = data
            return
        cut = end + 4
        if not self.head_only and data[9:10] != b"1":
            # The usual case, neither 1xx nor 101 nor HEAD: one pass over head and body.
            clean = True
            try:
                self._parser.feed_data(data)
            except HttpParserError:
                if not self._complete:
                    self._broken(sink, "sent a response that is not valid HTTP")
                    return
                clean = False  # bytes after a complete response: out of step
            self._in_head = False
            sink.response_start(self._status, data[:cut], data[cut:])
            if self._complete:
                self._finish(sink, keep_alive=clean)
            return
        self._read_special_head(sink, data[:cut], data[cut:] if cut < len(data) else b"")

    def _read_special_head(self, sink: ResponseSink, head: bytes, rest: bytes) -> None:
        """A 1xx, a 101 or the answer to a HEAD: the head is read on its own first."""
        try:
            self._parser.feed_data(head)
        except HttpParserUpgrade:
            self.tunnel = True
            self._in_head = False
            # A tunnel may rightly stay quiet for long: no response timeout applies.
            self.deadline = 0.0
            sink.upstream_upgraded(head, rest)
            return
        except HttpParserError:
            self._broken(sink, "sent a response that is not valid HTTP")
            return
        status = self._status
        if status < 200:
            # 1xx: pass it on and read the final response that follows.
            self._complete = False
            sink.response_interim(head)
            if rest:
                self._read_head(sink, rest)
            return
        self._in_head = False
        if self.head_only:
            # The parser would wait for the body that a HEAD response's headers
            # describe: start afresh for the next response instead.
            self._parser = HttpResponseParser(self)
            sink.response_start(status, head, b"")
            self._finish(sink)
            return
        if self._complete:
            rest = b""  # bytes after a complete response answer nothing
        elif rest:
            try:
                self._parser.feed_data(rest)
            except HttpParserError:
                if not self._complete:
                    self._broken(sink, "sent a response body that is not valid HTTP")
                    return
                sink.response_start(status, head, rest)
                self._finish(sink, keep_alive=False)  # out of step, as above
                return
        sink.response_start(status, head, rest)
        if self._complete:
            self._finish(sink)

    def _finish(self, sink: ResponseSink, *, keep_alive: bool = True) -> None:
        keep_alive = keep_alive and self.keep_alive
        self.sink = None
        self.deadline = 0.0
        self._in_head = True
        self._complete = False
        sink.response_complete(keep_alive and not self.until_close)

    def _broken(self, sink: ResponseSink, reason: str) -> None:
        self.sink = None
        self.close()
        sink.upstream_lost(reason)
