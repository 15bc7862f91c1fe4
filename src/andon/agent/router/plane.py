"""The router as the agent's data plane: one listener per environment with a listen port,
configured from the agent's view of it (its routing settings and its serving instances).

:class:`RouterDataPlane` implements the agent's ``DataPlane`` protocol (``apply``,
``remove``, ``close``). An environment's ``routing`` settings read::

    {
      "process": "web",                        # which process answers HTTP (default web)
      "weights": {"v1": 90, "v2": 10},         # percent per version, summing to 100
      "sticky": {"header": "X-User-Id", "cookie": "uid", "fallback": "client-ip"},
      "routes": [{"header": "X-Canary", "value": "always", "version": "v2"}],
      "mirror": {"version": "v2", "percent": 5},
      "timeouts": {...}, "limits": {...}       # as in RouterConfig
    }

Every key is optional. Versions come from the weights and from the serving instances
(a version with instances but no weight gets 0: only routes and mirroring reach it; a
weighted version with no serving instance answers 503 for its share). Without weights, a
lone version gets everything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from andon.agent.router.config import RouterConfig
from andon.agent.router.metrics import render_prometheus
from andon.agent.router.server import Router
from andon.agent.router.workers import RouterWorkers
from andon.errors import ConfigurationError

if TYPE_CHECKING:
    from andon.agent.data_plane import EnvironmentView

log = logging.getLogger(__name__)

_PASSED_THROUGH = ("sticky", "routes", "mirror", "timeouts", "limits")


def config_from_view(view: EnvironmentView) -> RouterConfig:
    """The router config of one environment, from the agent's view of it.

    Raises :class:`~andon.errors.ConfigurationError` naming every problem of ``routing``.
    """
    routing: Mapping[str, Any] = view.routing
    process = str(routing.get("process", "web"))
    weights = dict(routing.get("weights") or {})
    instances: dict[str, list[dict[str, Any]]] = {}
    for backend in view.backends:
        if backend.process == process:
            instances.setdefault(backend.version, []).append(
                {"host": backend.host, "port": backend.port}
            )
    names = list(weights) + sorted(set(instances) - set(weights))
    if not weights and len(names) == 1:
        weights = {names[0]: 100}
    elif not weights and names:
        raise ConfigurationError(
            f"Environment {view.name} runs versions {', '.join(names)} but its routing names "
            "no weights; set routing.weights (percent per version, summing to 100)."
        )
    data: dict[str, Any] = {
        "env": view.name,
        "versions": [
            {"name": name, "instances": instances.get(name, []), "weight": weights.get(name, 0)}
            for name in names
        ],
    }
    for key in _PASSED_THROUGH:
        if routing.get(key) is not None:
            data[key] = routing[key]
    unknown = set(routing) - {"process", "weights", *_PASSED_THROUGH}
    if unknown:
        raise ConfigurationError(
            f"The routing of environment {view.name} has unknown keys {sorted(unknown)}; "
            "expected process, weights, sticky, routes, mirror, timeouts, limits."
        )
    return RouterConfig.from_dict(data)


class RouterDataPlane:
    """Listeners for the agent's environments, one :class:`Router` (or, with ``workers``
    above 1, one group of worker processes) per environment that has a listen port."""

    def __init__(self, host: str = "0.0.0.0", *, workers: int = 1) -> None:
        self.host = host
        self.workers = workers
        self._listeners: dict[str, tuple[int, Router | RouterWorkers]] = {}

    async def apply(self, environment: EnvironmentView) -> None:
        """Route ``environment.listen_port`` as its view says, starting (or moving) the
        listener if need be; requests in flight finish on the previous config."""
        if environment.listen_port is None:
            await self.remove(environment.name)
            return
        config = config_from_view(environment)
        current = self._listeners.get(environment.name)
        if current is not None and current[0] == environment.listen_port:
            listener = current[1]
            if isinstance(listener, Router):
                listener.apply(config)
            else:
                await listener.apply(config)
            return
        await self.remove(environment.name)
        started: Router | RouterWorkers
        if self.workers > 1:
            started = RouterWorkers(config, count=self.workers)
            await started.start(self.host, environment.listen_port)
        else:
            started = Router(config)
            await started.start(self.host, environment.listen_port)
        self._listeners[environment.name] = (environment.listen_port, started)
        log.info("routing environment %s on port %d", environment.name, environment.listen_port)

    async def remove(self, name: str) -> None:
        """Stop routing ``name``: close its listener once requests in flight are done."""
        found = self._listeners.pop(name, None)
        if found is not None:
            await found[1].stop()

    async def close(self) -> None:
        """The agent is stopping: close every listener."""
        for name in list(self._listeners):
            await self.remove(name)

    async def snapshot(self, name: str) -> dict[str, Any]:
        """The counters of environment ``name`` (see :meth:`RouterMetrics.snapshot`)."""
        listener = self._listeners[name][1]
        if isinstance(listener, Router):
            return listener.metrics.snapshot()
        return await listener.snapshot()

    async def render_prometheus(self) -> str:
        """Every environment's counters in Prometheus' text exposition format."""
        return render_prometheus(*[await self.snapshot(name) for name in sorted(self._listeners)])
