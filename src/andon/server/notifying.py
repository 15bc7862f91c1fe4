"""Telling people and other systems what happened: outgoing webhooks for the line, the
rollouts, the flags and drift. The app builds one :class:`Notifier` from the settings;
the pipeline runner, the line API, the rollout controller and deploys, the flag service,
the flag guards and the drift checker call it.

Two targets, each optional: ``ANDON_NOTIFY_URL`` gets a Slack-compatible body
(``{"text": "<one line>", "andon": <the event>}``), ``ANDON_WEBHOOK_URL`` the event
alone (``{"event": "rollout.rolled_back", "at": "<ISO time>", "project": ..., ...}``).
Every delivery carries ``X-Andon-Event``, ``X-Andon-Delivery`` (an id, the same on each
retry), ``X-Andon-Timestamp`` (Unix seconds of the attempt) and, when
``ANDON_WEBHOOK_SIGNING_KEY`` is set, ``X-Andon-Signature: sha256=<hex>``: the HMAC-SHA256
of the exact body bytes with the key (:func:`andon.server.signing.sign`, the mechanism
incoming push webhooks are checked with). A receiver verifies it over the raw body,
before parsing it::

    expected = "sha256=" + hmac.new(key.encode(), raw_body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected.encode(), signature_header.encode())

Only the body is signed; a receiver that refuses replays checks that the body's ``at``
(``andon.at`` in the Slack-compatible body) is recent.

Delivery never blocks the caller: each target has one worker thread that posts in order
(:mod:`andon.server.delivering`); a timeout, a connection error, a 5xx, 408 or 429 is
retried after each of ``retry_delays``; another 4xx is not. The last deliveries and how
they ended are kept in memory (:meth:`Notifier.deliveries`, ``GET
/api/v1/webhooks/deliveries``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from andon.pipeline import LineChange
from andon.server.delivering import Delivery, TargetKind, WebhookTarget
from andon.settings import Settings
from andon.store import DeployEventKind, NewFlagHistory, RolloutRecord

log = logging.getLogger("andon.server.notify")

RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)
"""Seconds before each retry of a delivery: five attempts in all."""
KEPT = 200
"""Deliveries kept for ``GET /api/v1/webhooks/deliveries``."""
DRIFT_SHOWN = 3
"""Drift items a Slack line names before "and N more"."""

_ROLLOUT_EVENTS: dict[DeployEventKind, tuple[str, str]] = {
    DeployEventKind.STARTED: ("rollout.started", ":rocket:"),
    # Told when the old version has stopped, not at the switch: a rollout may still be
    # rolled back while the old version is kept warm.
    DeployEventKind.FINISHED: ("rollout.promoted", ":white_check_mark:"),
    DeployEventKind.ROLLED_BACK: ("rollout.rolled_back", ":leftwards_arrow_with_hook:"),
    DeployEventKind.ABORTED: ("rollout.rolled_back", ":no_entry_sign:"),
    DeployEventKind.FAILED: ("rollout.rolled_back", ":x:"),
    DeployEventKind.PAUSED: ("rollout.paused", ":double_vertical_bar:"),
}
"""The deploy events told, as (event, emoji); ``promoted`` (the switch) and ``resumed``
are not."""


class Notifier:
    """Posts events to the Slack-compatible and the generic webhook (either, both or
    neither), signed when it has a key."""

    def __init__(
        self,
        url: str | None = None,
        *,
        webhook_url: str | None = None,
        signing_key: str | None = None,
        timeout: float = 5.0,
        retry_delays: Sequence[float] | None = None,
        kept: int = KEPT,
    ) -> None:
        self.url = url
        self.webhook_url = webhook_url
        self._deliveries: deque[Delivery] = deque(maxlen=kept)
        self._lock = threading.Lock()
        delays = RETRY_DELAYS if retry_delays is None else tuple(retry_delays)
        urls = [
            (kind, u)
            for kind, u in ((TargetKind.SLACK, url), (TargetKind.GENERIC, webhook_url))
            if u
        ]
        tls = httpx.create_ssl_context() if urls else None
        self._targets = [
            WebhookTarget(
                kind,
                target_url,
                signing_key=signing_key,
                timeout=timeout,
                retry_delays=delays,
                on_done=self._record,
                tls=tls,
            )
            for kind, target_url in urls
        ]

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        """The notifier ``ANDON_NOTIFY_URL``, ``ANDON_WEBHOOK_URL`` and
        ``ANDON_WEBHOOK_SIGNING_KEY`` ask for."""
        return cls(
            settings.notify_url,
            webhook_url=settings.webhook_url,
            signing_key=settings.webhook_signing_key,
        )

    # -- events ----------------------------------------------------------------------------

    def line_changed(self, project: str, change: LineChange) -> None:
        """The line of ``project`` stopped (``line.stopped``) or restarted
        (``line.restarted``)."""
        if change.stopped:
            text = f":rotating_light: {project}: the line is stopped: {change.reason}"
        else:
            text = f":white_check_mark: {project}: the line runs again: {change.reason}"
        details = {
            "project": project,
            "reason": change.reason,
            "actor": change.actor,
            "commit": change.commit,
            "pipeline_id": change.pipeline_id,
        }
        event = "line.stopped" if change.stopped else "line.restarted"
        self.send(event, text, details, at=change.at)

    def rollout_event(
        self,
        kind: DeployEventKind,
        record: RolloutRecord,
        version: str,
        sentence: str,
        at: datetime,
    ) -> None:
        """A deploy event of ``record`` was stored: ``rollout.started``,
        ``rollout.promoted`` (it succeeded), ``rollout.rolled_back`` (rolled back, aborted
        or failed: ``outcome`` says which) or ``rollout.paused``; other kinds are not told."""
        if kind not in _ROLLOUT_EVENTS:
            return
        event, emoji = _ROLLOUT_EVENTS[kind]
        details = _rollout_details(record, version) | {"message": sentence}
        if event == "rollout.rolled_back":
            details["outcome"] = kind.value
        where = f"{record.project}/{record.environment}"
        self.send(event, f"{emoji} {where}: rollout #{record.id} {sentence}", details, at=at)

    def approval_requested(self, record: RolloutRecord, at: datetime) -> None:
        """``approval.requested``: a rollout of a protected environment waits for a
        person's approval before it starts."""
        asked = f" (asked by {record.created_by})" if record.created_by else ""
        text = (
            f":raised_hand: {record.project}/{record.environment}: rollout #{record.id} of "
            f"{record.to_version[:12]} waits for approval{asked}: "
            f"'andon rollout approve {record.environment}' starts it"
        )
        self.send("approval.requested", text, _rollout_details(record, record.to_version), at=at)

    def glass_broken(self, record: RolloutRecord, reason: str, at: datetime) -> None:
        """``freeze.broken``: a person deployed through a freeze window, saying why."""
        text = (
            f":fire_extinguisher: {record.project}/{record.environment}: {record.created_by} "
            f"broke the freeze to deploy {record.to_version[:12]} (rollout #{record.id}): "
            f"{reason}"
        )
        details = {**_rollout_details(record, record.to_version), "reason": reason}
        self.send("freeze.broken", text, details, at=at)

    def flag_killed(
        self, project: str, environment: str, change: NewFlagHistory, at: datetime
    ) -> None:
        """``flag.killed``: a person killed a flag (it serves its off-variant everywhere)."""
        reason = f": {change.reason}" if change.reason else ""
        text = (
            f":octagonal_sign: {project}/{environment}: flag {change.flag} killed by "
            f"{change.actor}{reason}"
        )
        details = _flag_details(project, environment, change)
        self.send("flag.killed", text, details, at=at)

    def guard_fired(
        self, project: str, environment: str, change: NewFlagHistory, at: datetime
    ) -> None:
        """``guard.fired``: a metric guard tripped a flag to its fallback."""
        text = f":shield: {project}/{environment}: flag {change.flag}: {change.reason}"
        details = _flag_details(project, environment, change) | {"evidence": change.evidence}
        self.send("guard.fired", text, details, at=at)

    def drift_found(
        self,
        project: str,
        environment: str,
        items: Sequence[Mapping[str, Any]],
        at: datetime,
    ) -> None:
        """``drift.found``: the environment differs from what was declared (``items``:
        the drift checker's items, each with its ``message``)."""
        said = "; ".join(str(item.get("message", "")) for item in items[:DRIFT_SHOWN])
        if len(items) > DRIFT_SHOWN:
            said += f"; and {len(items) - DRIFT_SHOWN} more"
        text = f":mag: {project}/{environment} has drifted from its declaration: {said}"
        details = {"project": project, "environment": environment, "drift": list(items)}
        self.send("drift.found", text, details, at=at)

    # -- delivery ----------------------------------------------------------------------------

    def send(self, event: str, text: str, details: Mapping[str, Any], *, at: datetime) -> None:
        """Queue ``event`` for every target and return at once: ``{"event", "at",
        **details}`` to the generic webhook, with ``text`` around it to the Slack-compatible
        one. Never raises."""
        if not self._targets:
            return
        try:
            body = {"event": event, "at": at.astimezone(UTC).isoformat(), **details}
            for target in self._targets:
                sent = {"text": text, "andon": body} if target.kind is TargetKind.SLACK else body
                encoded = json.dumps(sent, default=str).encode("utf-8")
                target.put(str(uuid.uuid4()), event, encoded)
        except Exception:
            # Telling people must never fail the deploy, the kill or the request behind it.
            log.exception("the %s notification could not be queued", event)

    def deliveries(self) -> list[Delivery]:
        """The last deliveries that ended, newest first."""
        with self._lock:
            return list(reversed(self._deliveries))

    def flush(self, timeout: float = 10.0) -> None:
        """Wait for queued deliveries to end (at shutdown, and in tests)."""
        deadline = time.monotonic() + timeout
        for target in self._targets:
            target.wait(max(0.0, deadline - time.monotonic()))

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)


def _rollout_details(record: RolloutRecord, version: str) -> dict[str, Any]:
    return {
        "project": record.project,
        "environment": record.environment,
        "rollout_id": record.id,
        "strategy": record.strategy,
        "version": version,
        "from_version": record.from_version,
        "by": record.created_by,
    }


def _flag_details(project: str, environment: str, change: NewFlagHistory) -> dict[str, Any]:
    flag = (change.after or {}).get("flag") or {}
    return {
        "project": project,
        "environment": environment,
        "flag": change.flag,
        "variant": flag.get("defaultVariant"),
        "actor": change.actor,
        "reason": change.reason,
    }
