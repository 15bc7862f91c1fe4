"""Telling the server what the SDK did: exposures, ``track`` events, guard flips and the
flag-set version it serves, in batches (``POST /api/v1/sdk/events``).

:class:`~andon.flags.client.FlagClient` owns one :class:`Reporter`. Its evaluation path
puts the first exposure per (flag, targeting key) of each batch window in
:attr:`Reporter.exposures`, a plain dict (no lock, no JSON: an evaluation must stay near
a microsecond, and a key seen again in the window costs one lookup and no work for the
sender); the reporter's daemon thread empties it item by item and posts. A batch goes
at once when a new version is applied or a guard flips, otherwise every
``flush_interval`` seconds or as soon as :data:`MAX_BATCH` items wait. A batch the
server could not take is kept and sent again later; what waits is bounded
(:data:`MAX_PENDING` per kind), the oldest dropped first and counted in
:attr:`Reporter.dropped`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpx

from andon.flags._streaming import Endpoint

log = logging.getLogger("andon.flags.client")

MAX_BATCH = 500
"""Items per request; this many waiting sends a batch before the interval is up."""
MAX_PENDING = 10_000
"""Exposures (and, apart, events and guard flips) kept while the server cannot take them."""

Exposures = dict[tuple[str, Any], tuple[str, float]]
"""What the evaluation path records: (flag, targeting key as given) → (variant, time)."""

_KINDS = ("guards", "events", "exposures")
_KINDS_COUNT = len(_KINDS)


def key_text(key: Any) -> str | None:
    """A targeting key as the server takes it: text; numbers written out; else None."""
    if isinstance(key, str):
        return key
    if isinstance(key, int | float) and not isinstance(key, bool):
        return str(key)
    return None


def exposure_items(
    recorded: Iterable[tuple[tuple[str, Any], tuple[str, float]]],
) -> list[dict[str, Any]]:
    """The exposures ``recorded`` as the server takes them, oldest first; those without a
    usable targeting key are left out. No side effects."""
    items = [
        {"flag": flag, "variant": variant, "key": key_text(raw_key), "at": at}
        for (flag, raw_key), (variant, at) in recorded
    ]
    return sorted((item for item in items if item["key"] is not None), key=_time_of)


def _time_of(item: dict[str, Any]) -> float:
    at: float = item["at"]
    return at


class Reporter:
    """The batches of one client process, sent by a daemon thread."""

    def __init__(self, endpoint: Endpoint, *, flush_interval: float) -> None:
        self.exposures: Exposures = {}
        """Filled by evaluations, emptied by the sender; see :meth:`crowded`."""
        self.dropped = 0
        """Items dropped unsent because too many waited."""
        self._endpoint = endpoint
        self._interval = flush_interval
        self._waiting: dict[str, deque[dict[str, Any]]] = {kind: deque() for kind in _KINDS}
        self._tracked: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING)
        self._flips: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING)
        self._applied: int | None = None
        self._sent_applied: int | None = None
        self._retry_at = 0.0
        self._failing = False
        self._wake = threading.Event()
        self._urgent = False
        self._stopping = threading.Event()
        self._sending = threading.Lock()
        self._http: httpx.Client | None = None
        self._thread = threading.Thread(target=self._run, name="andon-flags-report", daemon=True)

    def start(self) -> None:
        """Start sending in a daemon thread."""
        self._thread.start()

    def crowded(self, waiting: int) -> bool:
        """Called by an evaluation that found ``waiting`` (≥ MAX_BATCH) exposures
        recorded: wake the sender; whether the exposure must be dropped (and is counted),
        because MAX_PENDING wait already, recorded or unsent."""
        if not self._wake.is_set():
            self._wake.set()
        if waiting + len(self._waiting["exposures"]) >= MAX_PENDING:
            self.dropped += 1
            return True
        return False

    def track(self, name: str, key: str, at: float, value: float | None) -> None:
        """Queue a ``track`` event."""
        event: dict[str, Any] = {"name": name, "key": key, "at": at}
        if value is not None:
            event["value"] = value
        self._queue(self._tracked, event, urgent=False)

    def guard_flipped(self, flip: dict[str, Any]) -> None:
        """Queue a guard flip and send it at once."""
        self._queue(self._flips, flip, urgent=True)

    def applied(self, version: int | None) -> None:
        """Report ``version`` as the one served, at once."""
        self._applied = version
        self._urgent = True
        self._wake.set()

    def _queue(self, queue: deque[dict[str, Any]], item: dict[str, Any], *, urgent: bool) -> None:
        if len(queue) == queue.maxlen:
            self.dropped += 1
        queue.append(item)
        if urgent:
            self._urgent = True
            self._wake.set()
        elif len(queue) >= MAX_BATCH:
            self._wake.set()

    def stop(self, *, timeout: float) -> None:
        """Stop the thread and try, once, to send what waits."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.flush(force=True, timeout=timeout)
        if self._http is not None:
            self._http.close()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            urgent, self._urgent = self._urgent, False
            try:
                self.flush(force=urgent)
            except Exception:  # the sender must outlive any surprise
                log.exception("sending flag exposures and events failed")

    def flush(self, *, force: bool = False, timeout: float | None = None) -> bool:
        """Send everything that waits, in batches of at most MAX_BATCH items; whether all
        went. Without ``force``, a recent failure defers the send to the next interval."""
        with self._sending:
            # Collected once: what evaluations record while this flush sends waits for
            # the next one, so that steady traffic still goes in batches, not a request
            # per exposure.
            self._collect()
            if not force and time.monotonic() < self._retry_at:
                return False
            for _ in range(_KINDS_COUNT * MAX_PENDING // MAX_BATCH + 1):
                batch, taken = self._next_batch()
                if batch is None:
                    return True
                if not self._post(batch, timeout):
                    self._put_back(taken)
                    self._retry_at = time.monotonic() + self._interval
                    return False
            return False

    def _collect(self) -> None:
        # Item by item: evaluations may add to the dict meanwhile, which a copy or an
        # iteration would not survive.
        recorded = []
        popitem = self.exposures.popitem
        while True:
            try:
                recorded.append(popitem())
            except KeyError:
                break
        self._keep("exposures", exposure_items(recorded))
        for kind, queue in (("events", self._tracked), ("guards", self._flips)):
            items = []
            while queue:
                items.append(queue.popleft())
            self._keep(kind, items)

    def _keep(self, kind: str, items: list[dict[str, Any]]) -> None:
        waiting = self._waiting[kind]
        waiting.extend(items)
        overflow = len(waiting) - MAX_PENDING
        if overflow > 0:
            for _ in range(overflow):
                waiting.popleft()
            self.dropped += overflow
            log.warning(
                "dropped %d flag %s the server could not take in time (%d dropped in all)",
                overflow,
                kind,
                self.dropped,
            )

    def _next_batch(self) -> tuple[dict[str, Any] | None, dict[str, list[dict[str, Any]]]]:
        taken: dict[str, list[dict[str, Any]]] = {}
        room = MAX_BATCH
        for kind in _KINDS:
            waiting = self._waiting[kind]
            count = min(room, len(waiting))
            if count:
                taken[kind] = [waiting.popleft() for _ in range(count)]
                room -= count
        if not taken and self._applied == self._sent_applied:
            return None, taken
        batch: dict[str, Any] = {"client": self._endpoint.client_id, **taken}
        if self._applied is not None:
            batch["applied"] = self._applied
        return batch, taken

    def _put_back(self, taken: dict[str, list[dict[str, Any]]]) -> None:
        for kind, items in taken.items():
            self._waiting[kind].extendleft(reversed(items))

    def _post(self, batch: dict[str, Any], timeout: float | None) -> bool:
        if self._http is None:
            self._http = httpx.Client(headers=dict(self._endpoint.headers))
        url = self._endpoint.url("/api/v1/sdk/events")
        try:
            response = self._http.post(url, json=batch, timeout=timeout or self._endpoint.timeout)
        except httpx.HTTPError as error:
            return self._failed(f"{type(error).__name__}: {error}")
        status = response.status_code
        if status in (408, 429) or status >= 500:
            return self._failed(f"it answered HTTP {status}")
        self._failing = False
        self._sent_applied = batch.get("applied", self._sent_applied)
        if status >= 300:
            # Sending the same batch again cannot help: drop it, say why.
            log.error(
                "the flag server at %s refused a batch of exposures and events (HTTP %d: %s); "
                "it is dropped",
                self._endpoint.base_url,
                status,
                response.text[:200],
            )
        return True

    def _failed(self, why: str) -> bool:
        level = logging.DEBUG if self._failing else logging.WARNING
        self._failing = True
        log.log(
            level,
            "cannot send flag exposures and events to %s (%s); retrying in %g s",
            self._endpoint.base_url,
            why,
            self._interval,
        )
        return False
