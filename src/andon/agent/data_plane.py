"""The seam between the agent's state and the router (the data plane): what the router is
told about each environment — its listen port, its routing configuration and the backends
that may get requests — and the small Protocol through which the agent tells it.

The agent calls :meth:`DataPlane.apply` after every change that touches an environment
(its configuration, an instance becoming ready, starting to drain, stopping), and
:meth:`DataPlane.remove` when the environment goes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Backend:
    """One instance that may receive requests: ready and not draining."""

    instance: str
    version: str
    process: str
    port: int
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class EnvironmentView:
    """All the router needs to know of one environment, at one moment."""

    name: str
    listen_port: int | None
    routing: Mapping[str, Any] = field(default_factory=dict)
    backends: tuple[Backend, ...] = ()


class DataPlane(Protocol):
    """What the agent asks of its router."""

    async def apply(self, environment: EnvironmentView) -> None:
        """Route ``environment.listen_port`` to its backends as ``routing`` says, starting
        the listener if need be. Called again with the whole view after every change."""

    async def remove(self, name: str) -> None:
        """Stop routing for the environment ``name`` and close its listener."""

    async def prune(self, names: Collection[str]) -> None:
        """Close listeners left running for environments other than ``names`` (called once
        the agent has restored its environments)."""

    async def close(self) -> None:
        """The agent is stopping: close every listener, or let go of those that outlive
        the agent."""

    async def snapshot(self, name: str) -> dict[str, Any] | None:
        """What the listener of ``name`` counted, per version (requests by status class,
        latency histogram); None when nothing routes it."""

    async def render_prometheus(self) -> str:
        """Every listener's counters in Prometheus' text format ("" for none)."""


class NullDataPlane:
    """A data plane that routes nothing and remembers the last view of each environment;
    the agent uses it until the router is wired in, and tests read ``views``."""

    def __init__(self) -> None:
        self.views: dict[str, EnvironmentView] = {}

    async def apply(self, environment: EnvironmentView) -> None:
        """Remember the view."""
        self.views[environment.name] = environment

    async def remove(self, name: str) -> None:
        """Forget the environment."""
        self.views.pop(name, None)

    async def prune(self, names: Collection[str]) -> None:
        """Forget every other environment."""
        for name in set(self.views) - set(names):
            del self.views[name]

    async def close(self) -> None:
        """Nothing to close."""

    async def snapshot(self, name: str) -> dict[str, Any] | None:
        """Nothing is counted."""
        return None

    async def render_prometheus(self) -> str:
        """Nothing is counted."""
        return ""
