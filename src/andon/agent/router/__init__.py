"""The router: the data plane of one environment on a host.

An asyncio (uvloop) HTTP/1.1 reverse proxy: it splits traffic between versions by weight,
sticky per user (the same bucketing as flag rollouts, :mod:`andon.bucketing`), routes by
header or cookie, mirrors a share of requests, balances round-robin over a version's ready
instances with kept-alive upstream connections, streams bodies both ways, passes upgraded
connections through, and counts what it sees per version.

- :class:`Router` is one environment's listener in the running event loop:
  ``await router.start(host, port)``, ``router.apply(config)`` (atomic; in-flight requests
  finish on the old config), ``router.metrics`` (:class:`RouterMetrics`),
  ``await router.stop()``.
- :class:`RouterWorkers` runs the same in several processes on one port (SO_REUSEPORT), for
  more throughput than one Python process gives; :func:`serve` runs either as a process.
- :class:`RouterDataPlane` is the agent's ``DataPlane``: one listener per environment, its
  :class:`RouterConfig` built from the agent's view by :func:`config_from_view`.
"""

from andon.agent.router.config import (
    Instance,
    InstanceState,
    Limits,
    Mirror,
    Route,
    RouterConfig,
    Sticky,
    StickyFallback,
    Timeouts,
    Version,
)
from andon.agent.router.metrics import RouterMetrics, merge_snapshots, render_prometheus
from andon.agent.router.plane import RouterDataPlane, config_from_view, router_namespace
from andon.agent.router.server import Router, serve
from andon.agent.router.workers import RouterWorkers

__all__ = [
    "Instance",
    "InstanceState",
    "Limits",
    "Mirror",
    "Route",
    "Router",
    "RouterConfig",
    "RouterDataPlane",
    "RouterMetrics",
    "RouterWorkers",
    "Sticky",
    "StickyFallback",
    "Timeouts",
    "Version",
    "config_from_view",
    "merge_snapshots",
    "render_prometheus",
    "router_namespace",
    "serve",
]
