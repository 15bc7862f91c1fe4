"""Following the server's flag set: load it, then read every change off the stream.

:class:`FlagStream` is the background thread that :class:`~andon.flags.client.FlagClient`
starts (and starts again in a forked child). Each connection loads the whole set
(``GET /api/v1/sdk/flags``, ``If-None-Match`` the version it has), then follows
``GET /api/v1/sdk/stream`` (``Last-Event-ID`` the same) and hands each complete ``flags``
event on. :class:`EventParser` dispatches an event only at the blank line that ends it,
so an event cut off mid-way by a dropped connection is never applied.

Between connections it waits :func:`decide_retry_delay`: jittered exponential backoff,
capped at :data:`FAST_CAP` while the server refuses connections (the port is closed: a
restart or a short outage, where a refused connect costs the server nothing) so that a
returning server is followed within a second, and at :data:`CAP` when the server answers
with errors or has been gone longer than :data:`FAST_FOR`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import httpx

from andon.flags._snapshots import Origin, Snapshot, SnapshotError, read_payload

log = logging.getLogger("andon.flags.client")

FIRST_DELAY = 0.1
"""Seconds before the first retry after a connection ends."""
FAST_CAP = 0.5
"""The longest wait while the server refuses connections, for at most FAST_FOR seconds.

With a connect and a load taking milliseconds on the way back, a server that returns
is followed within a second."""
FAST_FOR = 60.0
"""How long a refused server is retried at FAST_CAP before the backoff grows to CAP."""
CAP = 10.0
"""The longest wait between two connections."""
IDLE_TIMEOUT = 45.0
"""A stream silent this long is dead (the server comments every 15 s): reconnect."""
STEADY_AFTER = 1.0
"""A stream that stayed up this long (or delivered an event) resets the backoff."""


def decide_retry_delay(
    attempt: int, *, down_for: float, refused: bool, retry_after: float | None, jitter: float
) -> float:
    """Seconds to wait before connection ``attempt`` (0 for the first retry). Pure: no
    side effects.

    ``down_for`` is how long the server has been unreachable, ``refused`` whether the last
    try found nothing listening, ``retry_after`` the server's ``Retry-After``, and
    ``jitter`` a number in [0, 1) that spreads a fleet's retries over the upper half of
    each step (equal jitter: the wait still grows with every attempt).
    """
    cap = FAST_CAP if refused and down_for < FAST_FOR else CAP
    ceiling = min(cap, FIRST_DELAY * 2.0 ** min(attempt, 20))
    delay = ceiling * (0.5 + 0.5 * jitter)
    if retry_after is not None:
        delay = max(delay, min(retry_after, CAP))
    return delay


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event of a ``text/event-stream``."""

    event: str
    data: str
    id: str | None


class EventParser:
    """The server-sent events of a stream of lines, as the HTML standard reads them.

    Fields accumulate until a blank line dispatches them; comments (``: keep-alive``) and
    unknown fields are skipped. Lines that end without a blank line (the connection
    dropped mid-event) are never dispatched.
    """

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        """Read one line (without its line break); the event it completes, if any."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def events(self, lines: Iterable[str]) -> Iterator[ServerSentEvent]:
        """Every complete event of ``lines``."""
        for line in lines:
            event = self.feed(line)
            if event is not None:
                yield event

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(event or "message", "\n".join(data), self._id)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how the SDK reaches its server."""

    base_url: str
    headers: Mapping[str, str]
    timeout: float
    client_id: str

    def url(self, path: str) -> str:
        """The absolute URL of an SDK endpoint ``path`` (``/api/v1/sdk/...``)."""
        return self.base_url.rstrip("/") + path


class _UnavailableError(Exception):
    """The server answered, but not with the flag set; retry after ``retry_after``."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(slots=True)
class _Attempt:
    """What one connection achieved, for the backoff."""

    progressed: bool = False
    refused: bool = False
    retry_after: float | None = None


class FlagStream:
    """The thread that keeps a client's flag set current over the server's stream.

    ``known`` answers the server version the client serves (None while it serves a cache
    or bootstrap, so the server sends the whole set); ``receive`` is handed every
    snapshot, ``confirm`` is called when the server has nothing newer.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        known: Callable[[], int | None],
        receive: Callable[[Snapshot], None],
        confirm: Callable[[], None],
    ) -> None:
        self._endpoint = endpoint
        self._known = known
        self._receive = receive
        self._confirm = confirm
        self._stopping = threading.Event()
        self._socket: socket.socket | None = None
        self._down = False
        self._thread = threading.Thread(target=self._run, name="andon-flags-stream", daemon=True)
        self.connected = False
        """Whether a stream is open now."""

    def start(self) -> None:
        """Start following the server in a daemon thread."""
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop following: close the open stream and wait up to ``timeout`` seconds."""
        self._stopping.set()
        sock = self._socket
        if sock is not None:
            # Closing the response from here would not wake the thread blocked reading
            # it; shutting the socket down does.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        attempt, down_since = 0, time.monotonic()
        with httpx.Client(headers=dict(self._endpoint.headers)) as http:
            while not self._stopping.is_set():
                outcome = self._connect(http)
                if self._stopping.is_set():
                    break
                if outcome.progressed:
                    attempt, down_since = 0, time.monotonic()
                delay = decide_retry_delay(
                    attempt,
                    down_for=time.monotonic() - down_since,
                    refused=outcome.refused,
                    retry_after=outcome.retry_after,
                    jitter=random.random(),
                )
                attempt += 1
                self._stopping.wait(delay)

    def _connect(self, http: httpx.Client) -> _Attempt:
        outcome = _Attempt()
        try:
            self._load(http)
            self._follow(http, outcome)
        except httpx.ConnectError as error:
            outcome.refused = True
            self._failed(f"it cannot be reached ({error})")
        except httpx.TransportError as error:
            self._failed(f"the connection failed ({type(error).__name__}: {error})")
        except _UnavailableError as error:
            outcome.retry_after = error.retry_after
            self._failed(str(error))
        except Exception:  # the thread must outlive surprises, or the flags freeze
            log.exception("following the flag server at %s failed", self._endpoint.base_url)
        finally:
            self._socket = None
            self.connected = False
        return outcome

    def _headers(self, header: str) -> dict[str, str]:
        version = self._known()
        if version is None:
            return {}
        return {header: f'"{version}"' if header == "If-None-Match" else str(version)}

    def _load(self, http: httpx.Client) -> None:
        response = http.get(
            self._endpoint.url("/api/v1/sdk/flags"),
            headers=self._headers("If-None-Match"),
            timeout=self._endpoint.timeout,
        )
        if response.status_code != 304:
            _check(response, "loading the flag set")
            try:
                snapshot = read_payload(response.json(), Origin.SERVER)
            except (ValueError, SnapshotError) as error:
                raise _UnavailableError(f"its flag set cannot be read: {error}") from error
            self._receive(snapshot)
        else:
            self._confirm()
        if self._down:
            self._down = False
            log.info("the flag server at %s is back", self._endpoint.base_url)

    def _follow(self, http: httpx.Client, outcome: _Attempt) -> None:
        timeout = httpx.Timeout(self._endpoint.timeout, read=IDLE_TIMEOUT)
        params = {"client": self._endpoint.client_id}
        url = self._endpoint.url("/api/v1/sdk/stream")
        headers = {"Accept": "text/event-stream", **self._headers("Last-Event-ID")}
        with http.stream("GET", url, params=params, headers=headers, timeout=timeout) as response:
            _check(response, "opening the stream")
            network = response.extensions.get("network_stream")
            self._socket = network.get_extra_info("socket") if network is not None else None
            if self._stopping.is_set():
                return
            self.connected = True
            log.debug("following the flag set at %s", url)
            opened = time.monotonic()
            for event in EventParser().events(response.iter_lines()):
                if event.event == "flags" and self._apply(event):
                    outcome.progressed = True
            # The server closed the stream cleanly (a restart, a proxy's limit).
            outcome.progressed = outcome.progressed or time.monotonic() - opened >= STEADY_AFTER

    def _apply(self, event: ServerSentEvent) -> bool:
        try:
            snapshot = read_payload(json.loads(event.data), Origin.SERVER, "a streamed flag set")
        except (ValueError, SnapshotError) as error:
            log.warning("skipped a flag-set event (id %s) that cannot be read: %s", event.id, error)
            return False
        self._receive(snapshot)
        return True

    def _failed(self, why: str) -> None:
        if self._stopping.is_set():
            return
        version = self._known()
        serving = f"version {version} of the flags" if version is not None else "what it has"
        # One warning per outage; the retries after it are only worth a debug line.
        level = logging.DEBUG if self._down else logging.WARNING
        self._down = True
        log.log(
            level,
            "the flag server at %s is not available: %s; serving %s and retrying",
            self._endpoint.base_url,
            why,
            serving,
        )


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _check(response: httpx.Response, doing: str) -> None:
    if response.status_code == 200:
        return
    status = response.status_code
    if status in (401, 403):
        why = "the client token is refused; create one with 'andon flags token create'"
    elif status == 404:
        why = "it has no flag SDK endpoints at this URL; check the URL"
    else:
        why = f"it answered HTTP {status}"
    # A refused token or a wrong URL will not mend itself soon: wait the longest.
    wait = _retry_after(response) or (CAP if status < 500 else None)
    raise _UnavailableError(f"{doing}: {why}", wait)
