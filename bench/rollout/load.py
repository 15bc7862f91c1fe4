"""Customers for the rollout benchmark: a steady, open-loop load on the environment's URL,
a mix of catalog reads and checkout journeys, every answer recorded with the version that
gave it (the router's ``X-Andon-Version``).

Requests start on a fixed schedule whatever the answers take, as customers arrive: per
second ``rate * checkout_share`` journeys (``POST /carts``, ``POST /carts/{id}/items``,
``POST /checkout``, each sent when the one before answered; a journey stops at its first
failure, as a customer gives up) and as many reads (``GET /products``, ``GET
/products/{sku}`` in turn) as make up ``rate`` requests. With the defaults, 200 req/s of
which 20% are checkouts: 40 journeys and 80 reads a second.

The client is a small HTTP/1.1 one on asyncio streams, in a thread of its own, so that
200 req/s cost the benchmark's process little: kept-alive connections from a pool, no
retries (a request that meets a closed connection fails, as it would for a customer; a
connection idle for ``IDLE_CLOSE_S`` is closed by the client first, well before the
router's 75 s, so that no request is sent on a connection the router is closing).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

SKUS = (
    "andon-cord",
    "signal-lamp-red",
    "signal-lamp-amber",
    "kanban-cards",
    "enamel-mug",
    "dot-notebook",
    "kitchen-timer",
    "sticky-notes",
)
"""The seed catalog's products (examples/shop/shop/seed.py)."""
TIMEOUT_S = 10.0
"""A request not answered in this time fails (status 0)."""
IDLE_CLOSE_S = 20.0
MAX_IN_FLIGHT = 2000
"""Units (reads or journeys) under way at most; one arriving beyond this is not sent
but counted as ``skipped``, so that a stalled environment cannot exhaust memory."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One request as its customer saw it."""

    sent: float
    """Wall-clock time (UNIX seconds) the request was sent, comparable with the server's
    timestamps on the same machine."""
    done: float
    """Wall-clock time its answer (or its failure) arrived."""
    kind: str
    """``read``, ``cart``, ``item`` or ``checkout``."""
    status: int
    """The HTTP status; 0 for a connection error or a timeout."""
    version: str
    """The router's ``X-Andon-Version``, "" without one."""
    error: str = ""

    @property
    def failed(self) -> bool:
        """A 5xx answer, or none at all."""
        return self.status == 0 or self.status >= 500


class _FailedError(Exception):
    pass


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class Load:
    """The load, started by :meth:`start` and stopped by :meth:`stop` (idempotent; the
    thread is a daemon, so that nothing outlives the benchmark's process)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        rate: float = 200.0,
        checkout_share: float = 0.2,
    ) -> None:
        if not 0 < checkout_share <= 1 / 3:
            raise ValueError("checkout_share must be above 0 and at most 1/3 (all journeys)")
        self.host, self.port = host, port
        self.rate = rate
        self.journeys_per_s = rate * checkout_share
        self.reads_per_s = rate - 3 * self.journeys_per_s
        self.answers: list[Answer] = []
        self.skipped = 0
        self._host_header = f"{host}:{port}".encode()
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._skus = itertools.cycle(SKUS)
        self._reads = itertools.count()

    # -- control, from the benchmark's thread

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rollout-load", daemon=True)
        self._thread.start()
        self._started.wait(10)

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(TIMEOUT_S + 5)

    def between(self, start: float, end: float) -> list[Answer]:
        """The answers to requests sent from ``start`` to ``end`` (wall-clock seconds)."""
        return [answer for answer in list(self.answers) if start <= answer.sent <= end]

    # -- the thread

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            for connection in list(self._open):
                connection.close()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        self._started.set()
        schedule = _Schedule(self.reads_per_s, self.journeys_per_s, time.monotonic())
        reaper = asyncio.create_task(self._close_idle())
        while not self._stopping.is_set():
            kind, at = schedule.next()
            delay = at - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                if self._stopping.is_set():
                    break
            if len(self._tasks) >= MAX_IN_FLIGHT:
                self.skipped += 1
                continue
            work = self._read() if kind == "read" else self._journey()
            task = asyncio.create_task(work)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        reaper.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=TIMEOUT_S + 1)

    async def _read(self) -> None:
        number = next(self._reads)
        path = "/products" if number % 2 == 0 else f"/products/{next(self._skus)}"
        await self._request("read", "GET", path)

    async def _journey(self) -> None:
        created = await self._request("cart", "POST", "/carts", b"{}")
        if created is None or created[0] != 201:
            return
        try:
            cart = json.loads(created[1])["id"]
        except (ValueError, KeyError, TypeError):
            return
        body = json.dumps({"sku": next(self._skus), "quantity": 1}).encode()
        added = await self._request("item", "POST", f"/carts/{cart}/items", body)
        if added is None or added[0] != 200:
            return
        await self._request("checkout", "POST", "/checkout", json.dumps({"cart_id": cart}).encode())

    async def _request(
        self, kind: str, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes] | None:
        """Send one request and record its answer; (status, body), None on a failure."""
        head = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self._host_header]
        head.append(b"User-Agent: andon-bench-rollout")
        if body is not None:
            head.append(b"Content-Type: application/json")
            head.append(b"Content-Length: " + str(len(body)).encode())
        request = b"\r\n".join(head) + b"\r\n\r\n" + (body or b"")
        sent = time.time()
        connection: _Connection | None = None
        try:
            connection = await asyncio.wait_for(self._acquire(), TIMEOUT_S)
            status, headers, answer = await asyncio.wait_for(
                self._exchange(connection, request), TIMEOUT_S
            )
        except (
            TimeoutError,
            OSError,
            asyncio.IncompleteReadError,
            _FailedError,
            ValueError,
        ) as exc:
            if connection is not None:
                self._discard(connection)
            reason = type(exc).__name__ + (f": {exc}" if str(exc) else "")
            self.answers.append(Answer(sent, time.time(), kind, 0, "", reason[:200]))
            return None
        version = headers.get("x-andon-version", "")
        self.answers.append(Answer(sent, time.time(), kind, status, version))
        if headers.get("connection", "").lower() == "close":
            self._discard(connection)
        else:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        return status, answer

    async def _acquire(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.writer.is_closing() and not connection.reader.at_eof():
                return connection
            self._discard(connection)
        reader, writer = await asyncio.open_connection(self.host, self.port)
        connection = _Connection(reader, writer)
        self._open.add(connection)
        return connection

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    async def _exchange(
        self, connection: _Connection, request: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        connection.writer.write(request)
        await connection.writer.drain()
        reader = connection.reader
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise _FailedError(f"not an HTTP answer: {lines[0][:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        kept = headers.get("connection", "").lower()
        if parts[0] == "HTTP/1.0" and kept != "keep-alive":
            headers["connection"] = "close"  # HTTP/1.0 closes unless it says otherwise
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()
            headers["connection"] = "close"
        return status, headers, body

    async def _close_idle(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for connection in list(self._idle):
                if now - connection.idle_since > IDLE_CLOSE_S:
                    with contextlib.suppress(ValueError):
                        self._idle.remove(connection)
                    self._discard(connection)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


class _Schedule:
    """Arrival times of reads and journeys, each at a fixed interval, merged in order."""

    def __init__(self, reads_per_s: float, journeys_per_s: float, start: float) -> None:
        self._every = {"read": 1 / reads_per_s if reads_per_s > 0 else None}
        self._every["journey"] = 1 / journeys_per_s
        self._next = {kind: start for kind, every in self._every.items() if every is not None}

    def next(self) -> tuple[str, float]:
        kind = min(self._next, key=self._next.__getitem__)
        at = self._next[kind]
        every = self._every[kind]
        assert every is not None
        self._next[kind] = at + every
        return kind, at


def is_version(header: str, version: str) -> bool:
    """Whether an ``X-Andon-Version`` value names ``version`` (the router may shorten it)."""
    return bool(header) and (version.startswith(header) or header.startswith(version))


def failed_share(answers: Sequence[Answer]) -> float:
    return sum(answer.failed for answer in answers) / len(answers) if answers else 0.0


def rate_of(answers: Sequence[Answer]) -> float:
    """Requests per second sent over the span of ``answers``."""
    if len(answers) < 2:
        return 0.0
    span = max(a.sent for a in answers) - min(a.sent for a in answers)
    return len(answers) / span if span > 0 else 0.0


def iter_kinds(answers: Sequence[Answer], kind: str) -> Iterator[Answer]:
    return (answer for answer in answers if answer.kind == kind)
