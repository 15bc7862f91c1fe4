"""The listener of one environment: accept connections, route them with the current
config, swap configs atomically, keep time (header, upstream and idle timeouts) and stop
gracefully.

The agent embeds :class:`Router` in its own event loop (``await router.start(...)``,
``router.apply(config)``, ``router.metrics``, ``await router.stop()``); :func:`serve`
runs one listener as a whole process (uvloop), which is what each worker of
``workers.py`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
import time
from collections.abc import Coroutine
from typing import Any

from andon.agent.router.config import RouterConfig
from andon.agent.router.metrics import RouterMetrics
from andon.agent.router.mirroring import Mirroring
from andon.agent.router.pools import Pools
from andon.agent.router.proxy import ClientConnection
from andon.agent.router.table import RoutingTable, build_table
from andon.agent.router.workers import RouterWorkers
from andon.errors import ConfigurationError, PortInUseError


class Router:
    """One environment's reverse proxy.

    ``apply`` swaps the whole config in one assignment: a request reads it once, when its
    head arrives, and finishes on it; the next request sees the new one. Upstream
    connections are pooled per instance address and survive config changes.
    """

    def __init__(self, config: RouterConfig) -> None:
        self.metrics = RouterMetrics(config.env)
        self.pools = Pools(config.limits.max_idle_per_instance)
        self.table: RoutingTable = build_table(config, self.pools, self.metrics)
        self.clients: set[ClientConnection] = set()
        self.mirroring = Mirroring(self.spawn)
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._changes: list[asyncio.Future[None]] = []

    @property
    def config(self) -> RouterConfig:
        return self.table.config

    @property
    def address(self) -> tuple[str, int]:
        """The host and port the listener is bound to (the real port when 0 was asked)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("The router is not listening; call start() first.")
        host, port = self._server.sockets[0].getsockname()[:2]
        return (str(host), int(port))

    def apply(self, config: RouterConfig) -> None:
        """Route new requests with ``config``; requests in flight finish on the old one."""
        if config.env != self.metrics.env:
            raise ConfigurationError(
                f"This router serves environment {self.metrics.env!r}, not {config.env!r}; "
                "start another router for it."
            )
        self.table = build_table(config, self.pools, self.metrics, self.table)
        changes, self._changes = self._changes, []
        for change in changes:
            if not change.done():
                change.set_result(None)

    async def changed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the next :meth:`apply`; whether it came."""
        change: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._changes.append(change)
        try:
            await asyncio.wait_for(asyncio.shield(change), timeout)
        except TimeoutError:
            return False
        finally:
            if change in self._changes:
                self._changes.remove(change)
        return True

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (connecting to an instance) as a task that :meth:`stop` ends."""
        task = asyncio.get_running_loop().create_task(work)
        # The loop keeps only weak references to tasks: keep a strong one while it runs.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        reuse_port: bool = False,
        sock: socket.socket | None = None,
    ) -> None:
        """Listen on ``host:port`` (or on an already bound ``sock``).

        ``reuse_port`` lets several processes listen on the same port (SO_REUSEPORT); the
        kernel spreads connections among them. Raises
        :class:`~andon.errors.PortInUseError` when the port is taken.
        """
        loop = asyncio.get_running_loop()
        try:
            if sock is not None:
                self._server = await loop.create_server(
                    lambda: ClientConnection(self), sock=sock, backlog=1024
                )
            else:
                self._server = await loop.create_server(
                    lambda: ClientConnection(self),
                    host,
                    port,
                    reuse_port=reuse_port or None,
                    backlog=1024,
                )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"Port {port} on {host} is in use; stop what listens there or choose "
                    "another port for the router."
                ) from exc
            raise
        self._watchdog = loop.create_task(self._watch())

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish (up to ``grace`` seconds), then
        close every connection, client and upstream."""
        if self._server is not None:
            self._server.close()
        for client in list(self.clients):
            if client.current is None:
                client.close()
        deadline = time.monotonic() + grace
        while any(client.current is not None for client in self.clients):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        for client in list(self.clients):
            if client.transport is not None:
                client.transport.abort()
        self.mirroring.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.pools.keep_only(())
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        if self._server is not None:
            await self._server.wait_closed()
        # Let the transports' close callbacks run, so nothing is left open on return.
        for _ in range(3):
            await asyncio.sleep(0)

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def sweep(self, now: float) -> None:
        """Close what has waited too long at ``now`` (a ``time.monotonic()`` reading):
        silent clients, instances that do not answer, unused upstream connections."""
        for client in list(self.clients):
            if client.deadline and now > client.deadline:
                client.timed_out()
                continue
            exchange = client.current
            if exchange is not None:
                upstream = exchange.upstream
                if upstream is not None and upstream.deadline and now > upstream.deadline:
                    exchange.upstream_timed_out()
        for copy in list(self.mirroring.copies):
            upstream = copy.upstream
            if upstream is not None and upstream.deadline and now > upstream.deadline:
                copy.upstream_timed_out()
        self.pools.close_idle(now - self.table.timeouts.upstream_idle)

    async def _watch(self) -> None:
        # One timer for the whole listener instead of one per request: deadlines are
        # plain numbers checked a few times per shortest timeout.
        while True:
            timeouts = self.table.timeouts
            shortest = min(timeouts.header, timeouts.upstream, timeouts.upstream_idle)
            await asyncio.sleep(min(max(shortest / 4, 0.02), 1.0))
            self.sweep(time.monotonic())


def serve(
    config: RouterConfig,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    reuse_port: bool = False,
    workers: int = 1,
) -> None:
    """Run a listener in this process, on uvloop, until SIGINT or SIGTERM.

    With ``workers`` above 1, this process supervises that many worker processes on the
    same port instead (:class:`~andon.agent.router.workers.RouterWorkers`).
    """
    import uvloop  # noqa: PLC0415 - only a process that serves needs it

    async def main() -> None:
        if workers > 1:
            group = RouterWorkers(config, count=workers)
            await group.start(host, port)
            await _until_stopped()
            await group.stop()
            return
        router = Router(config)
        await router.start(host, port, reuse_port=reuse_port)
        await _until_stopped()
        await router.stop()

    uvloop.run(main())


async def _until_stopped() -> None:
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
