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

import hashlib
import logging
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from andon.agent.router.config import RouterConfig
from andon.agent.router.metrics import render_prometheus
from andon.agent.router.server import Router
from andon.agent.router.workers import RouterWorkers, abstract_names, find_workers, stop_worker
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
    """Listeners for the agent's environments, one per environment with a listen port.

    Without ``state_dir`` each listener is a :class:`Router` in this event loop (or, with
    ``workers`` above 1, a group of worker processes that stop with this process). With
    ``state_dir`` (the agent's), each is a group of detached workers that serve on when the
    agent stops or dies: :meth:`close` lets go of them, and the next agent's :meth:`apply`
    takes them up again, so no open connection is dropped.
    """

    def __init__(
        self, host: str = "0.0.0.0", *, workers: int = 1, state_dir: Path | None = None
    ) -> None:
        self.host = host
        self.workers = workers
        self.state_dir = state_dir
        self._listeners: dict[str, tuple[int, Router | RouterWorkers]] = {}

    @property
    def _namespace(self) -> str:
        assert self.state_dir is not None
        return router_namespace(self.state_dir)

    def _control(self, name: str) -> str:
        return f"{self._namespace}.{_digest(name)}"

    async def apply(self, environment: EnvironmentView) -> None:
        """Route ``environment.listen_port`` as its view says, starting (or moving, or
        adopting) the listener if need be; requests in flight finish on the previous
        config."""
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
        if current is not None:  # moving to another port
            await self.remove(environment.name)
        started = await self._start(environment.name, config, environment.listen_port)
        self._listeners[environment.name] = (environment.listen_port, started)

    async def _start(self, name: str, config: RouterConfig, port: int) -> Router | RouterWorkers:
        if self.state_dir is not None:
            group = RouterWorkers(
                config,
                count=self.workers,
                control=self._control(name),
                log=self.state_dir / "logs" / f"router-{name}.log",
            )
            if await group.adopt(self.host, port):
                log.info("took up the router of environment %s on port %d", name, port)
                return group
            await group.start(self.host, port)
        elif self.workers > 1:
            group = RouterWorkers(config, count=self.workers)
            await group.start(self.host, port)
        else:
            router = Router(config)
            await router.start(self.host, port)
            log.info("routing environment %s on port %d", name, port)
            return router
        log.info("routing environment %s on port %d", name, port)
        return group

    async def remove(self, name: str) -> None:
        """Stop routing ``name``: close its listener once requests in flight are done."""
        found = self._listeners.pop(name, None)
        if found is not None:
            await found[1].stop()
        elif self.state_dir is not None:
            # Detached workers a previous agent left for it.
            for worker, _ in (await find_workers(self._control(name))).values():
                await stop_worker(worker, grace=5.0)

    async def prune(self, names: Collection[str]) -> None:
        """Stop the detached listeners a previous agent left for environments other than
        ``names`` (it was stopped between removing one and forgetting it)."""
        if self.state_dir is None:
            return
        kept = {self._control(name) for name in names}
        prefix = self._namespace + "."
        controls = {name.rsplit(".", 1)[0] for name in abstract_names(prefix)}
        for control in sorted(controls - kept):
            for worker, hello in (await find_workers(control)).values():
                log.info("stopping the router left for environment %s", hello.get("env"))
                await stop_worker(worker, grace=5.0)

    async def close(self) -> None:
        """The agent is stopping: detached listeners serve on (the next agent takes them
        up); the others close."""
        for name in list(self._listeners):
            listener = self._listeners[name][1]
            if isinstance(listener, RouterWorkers) and listener.control is not None:
                self._listeners.pop(name)
                listener.detach()
            else:
                await self.remove(name)

    async def snapshot(self, name: str) -> dict[str, Any] | None:
        """The counters of environment ``name`` (see :meth:`RouterMetrics.snapshot`); None
        when it is not routed."""
        if name not in self._listeners:
            return None
        listener = self._listeners[name][1]
        if isinstance(listener, Router):
            return listener.metrics.snapshot()
        return await listener.snapshot()

    async def render_prometheus(self) -> str:
        """Every environment's counters in Prometheus' text exposition format."""
        snapshots = [await self.snapshot(name) for name in sorted(self._listeners)]
        return render_prometheus(*[snapshot for snapshot in snapshots if snapshot is not None])

    @property
    def pids(self) -> dict[str, list[int]]:
        """The worker processes of each environment's listener (none for in-process ones)."""
        return {
            name: listener.pids if isinstance(listener, RouterWorkers) else []
            for name, (_, listener) in self._listeners.items()
        }


def router_namespace(state_dir: Path) -> str:
    """The prefix of the control names of the detached routers of the agent whose state
    directory is ``state_dir``."""
    return f"andon-router.{_digest(str(state_dir.absolute()))}"


def _digest(text: str) -> str:
    # Abstract socket names are at most 107 bytes; environment names may be 128.
    return hashlib.sha256(text.encode()).hexdigest()[:12]
