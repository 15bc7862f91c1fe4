"""The flag SDKs' change streams: who is connected to which environment's flag set, and
waking their streams when it changes.

The SDK stream route (:mod:`andon.server.api.sdk`) holds a :meth:`FlagStreams.subscription`
while a stream is open and waits on it; the flag service calls :meth:`FlagStreams.changed`
after every change it writes, from whichever thread wrote it (API handlers run in worker
threads). An :class:`asyncio.Event` set from another thread may never wake its waiter, so
a change is handed to the event loop with ``call_soon_threadsafe`` and set there.
:meth:`FlagStreams.close` ends every stream, so that a stopping server is not kept
waiting by SDKs that would stay connected forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

KEEPALIVE_S = 15.0
"""Seconds between keep-alive comments on an idle stream."""

EnvironmentKey = tuple[str, str]


class FlagStreams:
    """The open streams by (project, environment), and their wake-ups."""

    def __init__(self, *, keepalive: float = KEEPALIVE_S) -> None:
        self.keepalive = keepalive
        """Seconds between keep-alive comments; also how often a stream looks at the
        store by itself, for changes written by another server."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[EnvironmentKey, set[asyncio.Event]] = {}
        self._clients: dict[EnvironmentKey, Counter[str]] = {}
        self._latest: dict[EnvironmentKey, int] = {}
        self._lock = threading.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether the server is stopping: streams end and new ones are refused."""
        return self._closed

    def changed(self, project: str, environment: str, version: int | None = None) -> None:
        """Wake the environment's streams, telling them the new ``version`` when known;
        callable from any thread."""
        if version is not None:
            with self._lock:
                key = (project, environment)
                self._latest[key] = max(version, self._latest.get(key, 0))
        self._on_loop(self._wake, (project, environment))

    def latest(self, project: str, environment: str) -> int | None:
        """The newest version this process wrote for the environment, if it wrote one."""
        with self._lock:
            return self._latest.get((project, environment))

    def close(self) -> None:
        """End every stream (the server stops); callable from any thread."""
        self._closed = True
        self._on_loop(self._wake_all)

    def connected(self, project: str, environment: str) -> int:
        """How many streams of the environment are open."""
        with self._lock:
            return sum(self._clients.get((project, environment), Counter()).values())

    def connected_clients(self, project: str, environment: str) -> set[str]:
        """The client ids of the environment's open streams (those that gave one)."""
        with self._lock:
            counts = self._clients.get((project, environment), Counter())
            return {client for client, count in counts.items() if count and client}

    @contextmanager
    def subscription(
        self, project: str, environment: str, client: str = ""
    ) -> Iterator[asyncio.Event]:
        """An event set whenever the environment's flag set changes (or the server
        stops), counted as a connected stream while the block runs. Call on the loop."""
        self._loop = asyncio.get_running_loop()
        key = (project, environment)
        wake = asyncio.Event()
        with self._lock:
            self._waiting.setdefault(key, set()).add(wake)
            self._clients.setdefault(key, Counter())[client] += 1
        try:
            yield wake
        finally:
            with self._lock:
                self._waiting[key].discard(wake)
                counts = self._clients[key]
                counts[client] -= 1
                if counts[client] <= 0:
                    del counts[client]

    def _on_loop(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # no stream was ever opened on a live loop: nobody to wake
        # RuntimeError: the loop closed meanwhile, and its streams with it.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(callback, *args)

    def _wake(self, key: EnvironmentKey) -> None:
        with self._lock:
            waiting = list(self._waiting.get(key, ()))
        for wake in waiting:
            wake.set()

    def _wake_all(self) -> None:
        with self._lock:
            waiting = [wake for events in self._waiting.values() for wake in events]
        for wake in waiting:
            wake.set()
