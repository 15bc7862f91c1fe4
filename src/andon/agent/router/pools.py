"""Kept-alive connections to instances, one pool per address, shared by every config a
listener applies, so a weight change does not cost a single new connection.

An exchange takes an idle connection from the pool of the instance round-robin chose, or
connects (trying the version's next instances when connecting fails: nothing was sent yet,
so that is always safe), and gives it back once the response is complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from andon.agent.router.upstream import UpstreamConnection


class UpstreamUnreachableError(Exception):
    """No instance of a version accepted a connection; the message says why, per instance."""


class UpstreamPool:
    """Connections to one instance: the idle ones, and a count of all that are open."""

    __slots__ = ("address", "idle", "max_idle", "open", "routable")

    def __init__(self, address: tuple[str, int], max_idle: int) -> None:
        self.address = address
        self.max_idle = max_idle
        self.idle: list[UpstreamConnection] = []
        self.open = 0
        """Connections made and not yet lost, busy or idle."""
        self.routable = True
        """Whether the current config sends requests here; if not, connections are closed
        as soon as they are given back."""

    def take(self) -> UpstreamConnection | None:
        """The most recently used idle connection, or None."""
        idle = self.idle
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    def give_back(self, connection: UpstreamConnection, now: float) -> None:
        """Keep ``connection`` for the next request, or close it if it is not wanted."""
        if connection.closed:
            return
        if not self.routable or len(self.idle) >= self.max_idle:
            connection.close()
            return
        connection.idle_since = now
        self.idle.append(connection)

    async def connect(self, timeout: float) -> UpstreamConnection:
        """A new connection; OSError or TimeoutError when the instance does not accept it."""
        loop = asyncio.get_running_loop()
        connection = UpstreamConnection(self)
        host, port = self.address
        try:
            await asyncio.wait_for(loop.create_connection(lambda: connection, host, port), timeout)
        except BaseException:
            # If the connection is made after all (a timeout racing the handshake), it is
            # closed as it arrives instead of leaking.
            connection.close()
            raise
        return connection

    def close_idle(self, idle_before: float | None = None) -> None:
        """Close idle connections (those idle since before ``idle_before``, if given)."""
        keep = []
        for connection in self.idle:
            if idle_before is not None and connection.idle_since >= idle_before:
                keep.append(connection)
            else:
                connection.close()
        self.idle = keep

    # called by the connections themselves
    def opened(self, connection: UpstreamConnection) -> None:
        self.open += 1

    def closed(self, connection: UpstreamConnection) -> None:
        self.open -= 1
        if connection in self.idle:
            self.idle.remove(connection)


class Pools:
    """Every pool of one listener, by instance address."""

    def __init__(self, max_idle: int) -> None:
        self.max_idle = max_idle
        self.by_address: dict[tuple[str, int], UpstreamPool] = {}

    def get(self, address: tuple[str, int]) -> UpstreamPool:
        pool = self.by_address.get(address)
        if pool is None:
            pool = self.by_address[address] = UpstreamPool(address, self.max_idle)
        pool.max_idle = self.max_idle
        return pool

    def keep_only(self, routable: Iterable[tuple[str, int]]) -> None:
        """Mark the pools of ``routable`` addresses as wanted and close the others' idle
        connections (busy ones close when given back); drop pools with nothing open."""
        wanted = set(routable)
        for address, pool in list(self.by_address.items()):
            pool.routable = address in wanted
            if not pool.routable:
                pool.close_idle()
                if pool.open == 0:
                    del self.by_address[address]

    def close_idle(self, idle_before: float | None = None) -> None:
        for pool in self.by_address.values():
            pool.close_idle(idle_before)

    @property
    def open_connections(self) -> int:
        """Upstream connections open now, busy or idle (tests check this returns to 0)."""
        return sum(pool.open for pool in self.by_address.values())


async def connect_first(
    pools: Sequence[UpstreamPool], start: int, timeout: float
) -> UpstreamConnection:
    """A connection to ``pools[start]``, or else to the next pools in turn.

    Raises :class:`UpstreamUnreachableError` naming why each instance failed.
    """
    failures = []
    count = len(pools)
    for step in range(count):
        pool = pools[(start + step) % count]
        if step:
            # Another exchange may have given one back while this one waited.
            connection = pool.take()
            if connection is not None:
                return connection
        try:
            return await pool.connect(timeout)
        except TimeoutError:
            failures.append(f"{_address(pool)} did not accept a connection within {timeout:g} s")
        except OSError as exc:
            failures.append(f"{_address(pool)} refused the connection ({exc.strerror or exc})")
    raise UpstreamUnreachableError("; ".join(failures))


def _address(pool: UpstreamPool) -> str:
    host, port = pool.address
    return f"{host}:{port}"
