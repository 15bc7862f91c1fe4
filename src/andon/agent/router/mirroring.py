"""Mirroring: a copy of a share of requests goes to another version and its answers are
thrown away, to see how a version copes with real traffic before it serves any.

A copy never delays or breaks the client's own exchange: it has its own upstream
connection, it is dropped rather than waited for when its instance reads slowly (more
than ``limits.mirror_buffer_bytes`` behind), and at most ``limits.max_mirrors_in_flight``
copies are in flight. The client connection asks :meth:`Mirroring.copy_for` for each
request head and feeds the copy the body it forwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from andon.agent.router.heads import UNTIL_CLOSE, response_framing
from andon.agent.router.pools import UpstreamUnreachableError, connect_first
from andon.agent.router.table import RoutingTable, VersionRoute

if TYPE_CHECKING:
    from andon.agent.router.upstream import UpstreamConnection

_LAST_CHUNK = b"0\r\n\r\n"


class Mirroring:
    """Which requests of a listener are copied, and the copies in flight."""

    def __init__(self, spawn: Callable[[Coroutine[Any, Any, None]], object]) -> None:
        self.spawn = spawn
        """Runs a coroutine as a task the listener keeps track of."""
        self.credit = 0.0
        self.copies: set[MirrorCopy] = set()

    def copy_for(
        self, table: RoutingTable, head: bytes, *, chunked: bool, head_only: bool
    ) -> MirrorCopy | None:
        """A started copy of the request with ``head``, or None if it is not mirrored.

        The share is exact rather than a coin toss: each request adds ``percent`` to a
        credit and every 100 of credit copies one request (10 % copies every tenth).
        """
        route = table.mirror
        if route is None:
            return None
        self.credit += table.mirror_percent
        if self.credit < 100.0:
            return None
        self.credit -= 100.0
        if len(self.copies) >= table.limits.max_mirrors_in_flight or not route.pools:
            route.metrics.mirror_dropped += 1
            return None
        copy = MirrorCopy(self, table, route, head, chunked=chunked, head_only=head_only)
        self.copies.add(copy)
        copy.start()
        return copy

    def close(self) -> None:
        for copy in list(self.copies):
            copy.abandon()


class MirrorCopy:
    """One copied request; a response sink that counts the answer and discards it."""

    __slots__ = (
        "chunked",
        "done",
        "head_only",
        "mirroring",
        "pending",
        "pending_bytes",
        "request_done",
        "route",
        "status",
        "table",
        "upstream",
        "writable",
    )

    def __init__(
        self,
        mirroring: Mirroring,
        table: RoutingTable,
        route: VersionRoute,
        head: bytes,
        *,
        chunked: bool,
        head_only: bool,
    ) -> None:
        self.mirroring = mirroring
        self.table = table
        self.route = route
        self.chunked = chunked
        self.head_only = head_only
        self.pending = [head]
        self.pending_bytes = 0
        self.upstream: UpstreamConnection | None = None
        self.request_done = False
        self.writable = True
        self.done = False
        self.status = 0

    def start(self) -> None:
        pools = self.route.pools
        index = self.route.turn() % len(pools)
        connection = pools[index].take()
        if connection is not None:
            self._attach(connection)
        else:
            self.mirroring.spawn(self._connect(index))

    async def _connect(self, index: int) -> None:
        try:
            connection = await connect_first(self.route.pools, index, self.table.timeouts.connect)
        except UpstreamUnreachableError:
            self._end(0)
            return
        if self.done:
            connection.pool.give_back(connection, time.monotonic())
            return
        self._attach(connection)

    def _attach(self, connection: UpstreamConnection) -> None:
        self.upstream = connection
        connection.reset(self, head_only=self.head_only)
        if self.request_done:
            connection.arm(self.table.timeouts.upstream)
        self._write()

    def _write(self) -> None:
        upstream = self.upstream
        if upstream is not None and self.writable and self.pending:
            assert upstream.transport is not None
            upstream.transport.writelines(self.pending)
            self.pending.clear()
            self.pending_bytes = 0

    # fed by the client's exchange ---------------------------------------------------

    def request_body(self, chunk: bytes) -> None:
        if self.done:
            return
        if self.chunked:
            self.pending += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
        else:
            self.pending.append(chunk)
        self.pending_bytes += len(chunk)
        if self.pending_bytes > self.table.limits.mirror_buffer_bytes:
            # The mirror reads slower than the client sends: drop the copy, not the client.
            self.route.metrics.mirror_dropped += 1
            self.abandon(counted=True)
            return
        self._write()

    def request_complete(self) -> None:
        if self.done:
            return
        self.request_done = True
        if self.chunked:
            self.pending.append(_LAST_CHUNK)
        self._write()
        if self.upstream is not None:
            self.upstream.arm(self.table.timeouts.upstream)

    def abandon(self, *, counted: bool = False) -> None:
        """Stop the copy (its client went away, or it fell behind)."""
        upstream = self.upstream
        self.upstream = None
        if upstream is not None:
            upstream.abort()
        if counted:
            self._forget()
        else:
            self._end(0)

    # response sink: the answer is counted and discarded ------------------------------

    def response_start(self, status: int, head: bytes, rest: bytes) -> None:
        self.status = status
        upstream = self.upstream
        if upstream is not None and not upstream.keep_alive:
            framing = response_framing(head, status, head_only=self.head_only)
            upstream.until_close = framing == UNTIL_CLOSE

    def response_interim(self, head: bytes) -> None:
        pass

    def response_body(self, data: bytes) -> None:
        pass

    def response_complete(self, keep_alive: bool) -> None:
        upstream = self.upstream
        self.upstream = None
        if upstream is not None:
            if keep_alive and self.request_done:
                upstream.pool.give_back(upstream, time.monotonic())
            else:
                upstream.close()
        self._end(self.status)

    def upstream_upgraded(self, head: bytes, rest: bytes) -> None:
        self.abandon()

    def upstream_data(self, data: bytes) -> None:
        pass

    def upstream_lost(self, reason: str) -> None:
        self.upstream = None
        self._end(0)

    def upstream_timed_out(self) -> None:
        self.abandon()

    def upstream_writable(self, writable: bool) -> None:
        self.writable = writable
        self._write()

    def _end(self, status: int) -> None:
        if not self.done:
            self.route.metrics.mirror_responses[status // 100] += 1
        self._forget()

    def _forget(self) -> None:
        self.done = True
        self.mirroring.copies.discard(self)
