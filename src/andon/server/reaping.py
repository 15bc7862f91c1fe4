"""The TTL reaper: destroys the environments whose time is up, as
:func:`~andon.environments.decide_expired` names them, and finishes what a server that
stopped left half-done (an environment left ``creating`` is marked failed; one left
``destroying`` is destroyed).

The pipeline scheduler calls :meth:`EnvironmentReaper.tick` at each of its ticks; the
app's lifespan calls :meth:`EnvironmentReaper.recover` once at start.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from andon.environments import EnvironmentLifecycle, decide_expired
from andon.errors import AndonError
from andon.server.access import record as audit
from andon.server.operations import EnvironmentOperations
from andon.store import EnvironmentRecord, EnvironmentStatus, Store

log = logging.getLogger("andon.server.reaper")

RETRY_AFTER = timedelta(seconds=30)
"""How long the reaper waits before trying again to destroy one that it could not."""
_LIVE = [
    EnvironmentStatus.CREATING,
    EnvironmentStatus.READY,
    EnvironmentStatus.FAILED,
    EnvironmentStatus.DESTROYING,
]


class EnvironmentReaper:
    """Destroys expired environments, one operation each."""

    def __init__(
        self, store: Store, lifecycle: EnvironmentLifecycle, operations: EnvironmentOperations
    ) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.operations = operations
        self._tried: dict[tuple[str, str], datetime] = {}

    async def tick(self, now: datetime) -> list[tuple[str, str]]:
        """Start destroying every environment expired at ``now`` that nothing else is
        working on; the (project, name) of each started."""
        by_project: dict[str, list[EnvironmentRecord]] = {}
        for record in self.store.environments.list(statuses=_LIVE):
            by_project.setdefault(record.project, []).append(record)
        started = []
        for project, records in sorted(by_project.items()):
            for name in decide_expired(records, now):
                key = (project, name)
                # An environment still being created is reaped once it is done; one
                # whose removal failed is not hammered at every tick.
                if self.operations.busy(project, name):
                    continue
                if key in self._tried and now - self._tried[key] < RETRY_AFTER:
                    continue
                self._tried[key] = now
                try:
                    self.destroy(project, name)
                except AndonError as exc:
                    log.warning(
                        "cannot destroy expired environment %s of %s: %s", name, project, exc
                    )
                    continue
                log.info("environment %s of %s expired; destroying it", name, project)
                audit(self.store, "environment.expired", f"{project}/{name}")
                started.append(key)
        return started

    def recover(self) -> None:
        """Settle what a server that stopped left: ``creating`` becomes failed (``env
        down`` removes what was made), ``destroying`` is destroyed again."""
        for record in self.store.environments.list(statuses=[EnvironmentStatus.CREATING]):
            self.store.environments.update(
                record.project,
                record.name,
                status=EnvironmentStatus.FAILED,
                message=(
                    "the server stopped while it was being created; "
                    f"'andon env down {record.name}' removes what was made"
                ),
            )
        for record in self.store.environments.list(statuses=[EnvironmentStatus.DESTROYING]):
            self.destroy(record.project, record.name)

    def destroy(self, project: str, name: str) -> None:
        """Mark the environment destroying and destroy it in the background."""
        self.lifecycle.begin_down(project, name)
        self.operations.start(
            project, name, "down", lambda progress: self.lifecycle.down(project, name, progress)
        )
