"""Telling people: a Slack-compatible JSON body (``{"text": ...}``) posted to the webhook
URL in ``ANDON_NOTIFY_URL`` when the line stops or restarts.

Delivery happens on a background thread with a few retries; a failure is logged and never
disturbs the pipeline or request that caused it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from andon.pipeline import LineChange

log = logging.getLogger("andon.server.notify")

RETRY_DELAYS = (0.5, 2.0, 5.0)


class Notifier:
    """Posts notifications to one webhook URL, or does nothing without one."""

    def __init__(self, url: str | None, *, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._threads: list[threading.Thread] = []

    def line_changed(self, project: str, change: LineChange) -> None:
        """The line of ``project`` stopped or restarted."""
        if change.stopped:
            text = f":rotating_light: {project}: the line is stopped: {change.reason}"
        else:
            text = f":white_check_mark: {project}: the line runs again: {change.reason}"
        self.send(
            {
                "text": text,
                "andon": {
                    "event": "line.stopped" if change.stopped else "line.restarted",
                    "project": project,
                    "reason": change.reason,
                    "actor": change.actor,
                    "commit": change.commit,
                    "pipeline_id": change.pipeline_id,
                    "at": change.at.isoformat(),
                },
            }
        )

    def send(self, body: dict[str, Any]) -> None:
        """Post ``body`` in the background."""
        if not self.url:
            return
        thread = threading.Thread(target=self._deliver, args=(self.url, body), daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait for deliveries under way (at shutdown, and in tests)."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _deliver(self, url: str, body: dict[str, Any]) -> None:
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            time.sleep(delay)
            try:
                response = httpx.post(url, json=body, timeout=self.timeout)
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            else:
                if response.is_success:
                    return
                reason = f"HTTP {response.status_code}"
            log.warning("notification attempt %d to the webhook failed: %s", attempt + 1, reason)
        log.error("gave up notifying the webhook after %d attempts", len(RETRY_DELAYS) + 1)
