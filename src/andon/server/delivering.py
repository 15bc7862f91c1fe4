"""Outgoing webhook deliveries: each target (the Slack-compatible URL, the generic one)
has one daemon worker that posts what was queued for it in order, signed, retries what a
receiver could not take with exponential backoff, and reports how each delivery ended.

:class:`~andon.server.notifying.Notifier` owns one :class:`WebhookTarget` per URL it was
given. Nothing here blocks or raises into the code that queued a delivery, and no log
line carries more of a URL than its host: a Slack webhook's path is its credential.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx

from andon import __version__
from andon.server.signing import sign

log = logging.getLogger("andon.server.notify")

IDLE_SECONDS = 1.0
"""A worker with nothing to deliver for this long ends; the next delivery starts another."""
WAITING_LIMIT = 1000
"""Deliveries a target keeps waiting; one more is recorded as failed at once."""
_RETRIED_CLIENT_ERRORS = frozenset({408, 429})
"""The 4xx answers that mean "later" (timeout, too many requests); other 4xx are final."""


class TargetKind(StrEnum):
    """Which body a target gets."""

    SLACK = "slack"
    """``{"text": ..., "andon": {...}}``, which Slack and its look-alikes show."""
    GENERIC = "generic"
    """The event's JSON alone."""


class DeliveryStatus(StrEnum):
    """How a delivery ended."""

    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one event's delivery to one target ended."""

    id: str
    """The ``X-Andon-Delivery`` header, the same on every attempt."""
    event: str
    target: TargetKind
    host: str
    """The receiver's host (and port); never the whole URL."""
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    """Why the last failed attempt failed (None when the first one was taken)."""
    at: datetime
    """When it ended."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; the time as ISO 8601 in UTC with a ``Z``."""
        return {
            "id": self.id,
            "event": self.event,
            "target": self.target.value,
            "host": self.host,
            "status": self.status.value,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }


@dataclass(frozen=True, slots=True)
class _Outgoing:
    id: str
    event: str
    body: bytes


class _Attempt(StrEnum):
    TAKEN = "taken"
    LATER = "later"
    REFUSED = "refused"


class WebhookTarget:
    """One receiver URL: its queue, its worker, its retries."""

    def __init__(
        self,
        kind: TargetKind,
        url: str,
        *,
        signing_key: str | None,
        timeout: float,
        retry_delays: Sequence[float],
        on_done: Callable[[Delivery], None],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.kind = kind
        self.host = host_of(url)
        self._url = url
        # Made here, once: loading the CA bundle holds the GIL for tens of milliseconds,
        # which a worker starting beside the caller would take from it.
        self._tls = tls if tls is not None else httpx.create_ssl_context()
        self._signing_key = signing_key
        self._timeout = timeout
        self._delays = tuple(retry_delays)
        self._on_done = on_done
        self._waiting: deque[_Outgoing] = deque()
        self._unfinished = 0
        self._worker: threading.Thread | None = None
        self._cond = threading.Condition()

    @property
    def name(self) -> str:
        """The target as log lines name it."""
        what = "Slack-compatible" if self.kind is TargetKind.SLACK else "generic"
        return f"the {what} webhook at {self.host}"

    def put(self, delivery_id: str, event: str, body: bytes) -> None:
        """Queue ``body`` for delivery; returns at once."""
        outgoing = _Outgoing(delivery_id, event, body)
        with self._cond:
            full = len(self._waiting) >= WAITING_LIMIT
            if not full:
                self._waiting.append(outgoing)
                self._unfinished += 1
                self._cond.notify_all()
                if self._worker is None:
                    self._worker = threading.Thread(
                        target=self._run, name=f"webhook-{self.kind.value}", daemon=True
                    )
                    self._worker.start()
        if full:
            error = f"dropped: {WAITING_LIMIT} deliveries were waiting already"
            log.error("%s: %s %s", self.name, event, error)
            self._finish(outgoing, DeliveryStatus.FAILED, 0, error)

    def wait(self, timeout: float) -> bool:
        """Wait until every queued delivery has ended; whether they all did in time."""
        with self._cond:
            return self._cond.wait_for(lambda: self._unfinished == 0, timeout)

    def _run(self) -> None:
        # A redirect is not followed: a receiver that moved says so in the deliveries.
        with httpx.Client(
            verify=self._tls, timeout=self._timeout, follow_redirects=False
        ) as client:
            while True:
                with self._cond:
                    if not self._waiting:
                        self._cond.wait(IDLE_SECONDS)
                    if not self._waiting:
                        # Under the lock: a put that comes after this starts a new worker.
                        self._worker = None
                        return
                    outgoing = self._waiting.popleft()
                try:
                    self._deliver(client, outgoing)
                except Exception:
                    # A bug here must not end the worker and strand what waits behind.
                    log.exception("%s: delivery %s broke", self.name, outgoing.id)
                finally:
                    with self._cond:
                        self._unfinished -= 1
                        self._cond.notify_all()

    def _deliver(self, client: httpx.Client, outgoing: _Outgoing) -> None:
        attempts = len(self._delays) + 1
        error = ""
        for attempt, delay in enumerate((0.0, *self._delays), start=1):
            time.sleep(delay)
            result, error = self._attempt(client, outgoing)
            if result is _Attempt.TAKEN:
                self._finish(outgoing, DeliveryStatus.DELIVERED, attempt, None)
                return
            if result is _Attempt.REFUSED:
                log.error("%s refused %s: %s; not retried", self.name, outgoing.event, error)
                self._finish(outgoing, DeliveryStatus.FAILED, attempt, error)
                return
            if attempt < attempts:
                log.warning(
                    "%s: attempt %d of %d to deliver %s failed: %s",
                    self.name,
                    attempt,
                    attempts,
                    outgoing.event,
                    error,
                )
        log.error(
            "gave up delivering %s to %s after %d attempts: %s",
            outgoing.event,
            self.name,
            attempts,
            error,
        )
        self._finish(outgoing, DeliveryStatus.FAILED, attempts, error)

    def _attempt(self, client: httpx.Client, outgoing: _Outgoing) -> tuple[_Attempt, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Andon/{__version__}",
            "X-Andon-Event": outgoing.event,
            "X-Andon-Delivery": outgoing.id,
            "X-Andon-Timestamp": str(int(time.time())),
        }
        if self._signing_key:
            headers["X-Andon-Signature"] = sign(self._signing_key, outgoing.body)
        try:
            response = client.post(self._url, content=outgoing.body, headers=headers)
        except httpx.TimeoutException as exc:
            return _Attempt.LATER, f"no answer within {self._timeout:g}s ({type(exc).__name__})"
        except httpx.TransportError as exc:
            return _Attempt.LATER, self._described(exc)
        status = response.status_code
        if response.is_success:
            return _Attempt.TAKEN, ""
        error = f"HTTP {status}"
        if status >= 500 or status in _RETRIED_CLIENT_ERRORS:
            return _Attempt.LATER, error
        return _Attempt.REFUSED, error

    def _described(self, exc: Exception) -> str:
        """The error in a few words, without the URL that some errors quote."""
        text = str(exc)
        path = urlsplit(self._url).path
        if not text or self._url in text or (path not in ("", "/") and path in text):
            return type(exc).__name__
        return f"{type(exc).__name__}: {text}"

    def _finish(
        self, outgoing: _Outgoing, status: DeliveryStatus, attempts: int, error: str | None
    ) -> None:
        delivery = Delivery(
            id=outgoing.id,
            event=outgoing.event,
            target=self.kind,
            host=self.host,
            status=status,
            attempts=attempts,
            last_error=error,
            at=datetime.now(UTC),
        )
        try:
            self._on_done(delivery)
        except Exception:
            log.exception("%s: delivery %s could not be recorded", self.name, outgoing.id)


def host_of(url: str) -> str:
    """``host[:port]`` of ``url``: what may be shown of it (no user, password or path)."""
    parts = urlsplit(url)
    host = parts.hostname or "an unknown host"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host
