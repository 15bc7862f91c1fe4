"""What the flag SDKs report, taken in and summed up: exposures and conversions for
experiments, dependency guards tripped and restored in the SDKs (history entries with
their evidence), and fleet convergence (which flag-set version each SDK serves).

The SDK events route hands each batch to :meth:`FlagReports.submit`, which ingests batches
one at a time on its own thread; the flags API asks
:meth:`FlagReports.convergence` and :meth:`FlagReports.guard_states` for its views.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from andon.errors import UsageError
from andon.server.flag_streams import FlagStreams
from andon.store import (
    Conversion,
    Exposure,
    FlagChangeKind,
    FlagClientRecord,
    NewFlagHistory,
    Store,
)

SEEN_WINDOW = timedelta(seconds=60)
"""An SDK client counts in the fleet while it reported in this recently."""

_TRIPPED = "tripped"


@dataclass(frozen=True, slots=True)
class GuardFlip:
    """A dependency guard an SDK tripped or restored."""

    flag: str
    guard: int
    tripped: bool
    at: float | None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventBatch:
    """One ``POST /api/v1/sdk/events`` batch; every part may be empty."""

    client: str | None = None
    applied: int | None = None
    exposures: Sequence[Mapping[str, Any]] = ()
    events: Sequence[Mapping[str, Any]] = ()
    guards: Sequence[GuardFlip] = ()


class FlagReports:
    """Takes in the SDKs' batches and sums them up per environment."""

    def __init__(self, store: Store, streams: FlagStreams, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.streams = streams
        self.clock = clock
        # One writer: a fleet of SDKs reporting at once (each applies a new version in the
        # same instant) would otherwise be as many writers queueing for the database's
        # lock, and a person's kill switch behind all of them.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="andon-flag-reports")

    async def submit(self, project: str, environment: str, batch: EventBatch) -> dict[str, int]:
        """:meth:`ingest` on the one writer thread, awaited without holding a worker."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self.ingest, project, environment, batch)

    def ingest(self, project: str, environment: str, batch: EventBatch) -> dict[str, int]:
        """Store a batch; answers how many of each part it took."""
        now = self.clock()
        events = self.store.flag_events
        exposures = [
            Exposure(item["flag"], item["variant"], item["key"], self._time(item.get("at"), now))
            for item in batch.exposures
        ]
        conversions = [
            Conversion(item["name"], item["key"], self._time(item.get("at"), now))
            for item in batch.events
        ]
        taken = {
            "exposures": events.add_exposures(project, environment, exposures),
            "events": events.add_conversions(project, environment, conversions),
            "guards": len(batch.guards),
        }
        if batch.client is not None:
            tripped = None
            if batch.guards:
                known = events.client(project, environment, batch.client)
                tripped = set(known.tripped) if known else set()
                for flip in batch.guards:
                    mark = f"{flip.flag}#{flip.guard}"
                    (tripped.add if flip.tripped else tripped.discard)(mark)
            events.report_client(
                project, environment, batch.client, applied=batch.applied, tripped=tripped, at=now
            )
        if batch.guards:
            self._record_flips(project, environment, batch, now)
        return taken

    def convergence(self, project: str, environment: str, version: int) -> dict[str, Any]:
        """How far the fleet has come to ``version``: open streams, clients seen in the
        last minute, how many of them serve ``version`` or later, and the count per
        version they serve."""
        clients = self.recent_clients(project, environment)
        served = Counter(client.applied for client in clients if client.applied is not None)
        return {
            "version": version,
            "streams": self.streams.connected(project, environment),
            "clients": len(clients),
            "applied": sum(count for number, count in served.items() if number >= version),
            "by_version": {str(number): served[number] for number in sorted(served)},
        }

    def recent_clients(self, project: str, environment: str) -> list[FlagClientRecord]:
        """The SDK clients that reported in within :data:`SEEN_WINDOW`."""
        since = self.clock() - SEEN_WINDOW
        return self.store.flag_events.clients(project, environment, seen_since=since)

    def guard_states(
        self,
        project: str,
        environment: str,
        key: str,
        guards: Sequence[Mapping[str, Any]],
        held: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Each guard of flag ``key``: its definition, and whether it is tripped — a
        metric guard by the server (``held`` names it as what holds the flag), a
        dependency guard by the recent clients that report it tripped."""
        clients = self.recent_clients(project, environment)
        by_server = held.get("guard") if held is not None and held.get("by") == "guard" else None
        states = []
        for index, guard in enumerate(guards):
            mark = f"{key}#{index}"
            tripped = [client.client for client in clients if mark in client.tripped]
            states.append(
                {
                    "index": index,
                    "kind": "metric" if "metric" in guard else "dependency",
                    "guard": dict(guard),
                    "state": _TRIPPED if tripped or by_server == index else "ok",
                    "tripped_clients": tripped,
                }
            )
        return states

    def _record_flips(
        self, project: str, environment: str, batch: EventBatch, now: datetime
    ) -> None:
        client = batch.client or "an unnamed client"
        entries = []
        for flip in batch.guards:
            kind = FlagChangeKind.GUARD_TRIPPED if flip.tripped else FlagChangeKind.GUARD_RESTORED
            at = self._time(flip.at, now)
            what = "tripped" if flip.tripped else "restored"
            cause = flip.evidence.get("error")
            reason = f"guard {flip.guard} of {flip.flag} {what} in SDK client {client}"
            if isinstance(cause, str) and cause:
                reason += f": {cause}"
            evidence = {
                **flip.evidence,
                "client": client,
                "guard": flip.guard,
                "at": at.isoformat().replace("+00:00", "Z"),
            }
            entries.append(
                NewFlagHistory(kind, flip.flag, f"sdk {client}", reason, None, None, evidence)
            )
        self.store.flags.note(project, environment, entries, at=now)

    @staticmethod
    def _time(value: Any, default: datetime) -> datetime:
        if value is None:
            return default
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise UsageError(
                f"{value!r} is not a time; give seconds since the epoch, e.g. 1764547200.5."
            ) from exc
