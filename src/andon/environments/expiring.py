"""Which environments the TTL reaper destroys: those whose time is up.

The reaper reads the environments (``store.environments.list()`` or ``.expired(now)``)
and destroys the ones :func:`decide_expired` names, soonest expired first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

# Statuses as their plain values, so that any record whose status is a StrEnum fits.
_DESTROYED = "destroyed"


class Expiring(Protocol):
    """What the decision reads of an environment (``EnvironmentRecord`` has it)."""

    @property
    def name(self) -> str:
        """The environment's name."""
        ...

    @property
    def status(self) -> str:
        """Its status: creating, ready, failed, destroying or destroyed."""
        ...

    @property
    def expires_at(self) -> datetime | None:
        """When its TTL runs out; None for an environment that never expires."""
        ...


def decide_expired(environments: Iterable[Expiring], now: datetime) -> list[str]:
    """The names of the environments to destroy at ``now``: expired (at or before ``now``)
    and not destroyed yet, soonest expired first, then by name; no side effects.

    One already being destroyed is named again, so that a reaper that stopped halfway
    finishes the job; a failed one is named too, since a failure does not extend its TTL.
    """
    due = [
        (environment.expires_at, environment.name)
        for environment in environments
        if environment.expires_at is not None
        and environment.expires_at <= now
        and str(environment.status) != _DESTROYED
    ]
    return [name for _expires_at, name in sorted(due)]
