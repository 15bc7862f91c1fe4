"""The drift checker: looks at every ready environment every ``ANDON_DRIFT_INTERVAL``
seconds (60 by default) and records how it differs from what was declared (a config file
edited by hand, an instance gone, a migration applied out of band), so that ``andon env
status`` and the dashboard show it without anyone asking; new drift is told to the
webhooks (``drift.found``).

The pipeline scheduler calls :meth:`DriftChecker.tick` at each of its ticks.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from andon.environments import EnvironmentLifecycle
from andon.errors import AndonError
from andon.server.notifying import Notifier
from andon.server.operations import EnvironmentOperations
from andon.store import EnvironmentStatus, Store

log = logging.getLogger("andon.server.drift")


class DriftChecker:
    """Checks ready environments for drift when their last check is old enough."""

    def __init__(
        self,
        store: Store,
        lifecycle: EnvironmentLifecycle,
        operations: EnvironmentOperations,
        *,
        interval: float,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.operations = operations
        self.notifier = notifier if notifier is not None else Notifier()
        self.interval = timedelta(seconds=interval)
        self._tried: dict[tuple[str, str], datetime] = {}

    async def tick(self, now: datetime) -> list[tuple[str, str]]:
        """Check every ready environment whose last check is ``interval`` old at ``now``;
        the (project, name) of each checked."""
        checked = []
        for record in self.store.environments.list(statuses=[EnvironmentStatus.READY]):
            key = (record.project, record.name)
            # A check that failed (an agent down) waits its interval too, as a good one.
            last = max(filter(None, (record.drift_checked_at, self._tried.get(key))), default=None)
            if last is not None and now - last < self.interval:
                continue
            # An environment being rebuilt or removed would show drift that is not one.
            if self.operations.busy(record.project, record.name):
                continue
            # Two versions run side by side during a rollout, as they should.
            if self.store.rollouts.active(record.project, record.name) is not None:
                continue
            self._tried[key] = now
            try:
                items = await self.lifecycle.check_drift(record.project, record.name)
            except AndonError as exc:
                log.warning(
                    "cannot check environment %s of %s for drift: %s",
                    record.name,
                    record.project,
                    exc.message,
                )
                continue
            checked.append((record.project, record.name))
            if items:
                log.warning(
                    "environment %s of %s has drifted from its declaration: %s",
                    record.name,
                    record.project,
                    "; ".join(item.message for item in items),
                )
                found = [item.to_dict() for item in items]
                # Told when what drifted changes, not at every check: the same drift
                # every minute would bury the news.
                if found != (record.drift or []):
                    self.notifier.drift_found(record.project, record.name, found, now)
        return checked
