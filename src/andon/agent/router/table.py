"""A config compiled for the request path: per version, the pools of its ready instances,
its round-robin position, its counters and its ``X-Andon-Version`` header line.

:meth:`Router.apply` builds a new :class:`RoutingTable` and swaps it in with one
assignment; an exchange reads the table once, when its request head arrives, and keeps it,
so in-flight requests finish on the config they started with.
"""

from __future__ import annotations

from dataclasses import dataclass

from andon.agent.router.choosing import SplitPlan, plan_split
from andon.agent.router.config import InstanceState, Limits, RouterConfig, Timeouts
from andon.agent.router.metrics import RouterMetrics, VersionMetrics
from andon.agent.router.pools import Pools, UpstreamPool


class VersionRoute:
    """One version as the proxy sees it."""

    __slots__ = ("metrics", "name", "next", "pools", "version_line")

    def __init__(self, name: str, pools: list[UpstreamPool], metrics: VersionMetrics) -> None:
        self.name = name
        self.pools = pools
        """Pools of the version's ready instances, in config order."""
        self.next = 0
        """Round-robin position."""
        self.metrics = metrics
        self.version_line = b"X-Andon-Version: " + name.encode("latin-1") + b"\r\n"

    def turn(self) -> int:
        """The next round-robin position (callers take it modulo ``len(pools)``)."""
        position = self.next
        self.next = position + 1
        return position


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """Everything a request needs from one config."""

    config: RouterConfig
    split: SplitPlan
    versions: dict[str, VersionRoute]
    mirror: VersionRoute | None
    mirror_percent: float
    timeouts: Timeouts
    limits: Limits


def build_table(
    config: RouterConfig,
    pools: Pools,
    metrics: RouterMetrics,
    previous: RoutingTable | None = None,
) -> RoutingTable:
    """Compile ``config``; pools and counters are shared with earlier tables, and each
    version keeps its round-robin position across configs."""
    pools.max_idle = config.limits.max_idle_per_instance
    versions: dict[str, VersionRoute] = {}
    for version in config.versions:
        ready = [
            pools.get(instance.address)
            for instance in version.instances
            if instance.state is InstanceState.READY
        ]
        route = VersionRoute(version.name, ready, metrics.version(version.name))
        if previous is not None and version.name in previous.versions:
            route.next = previous.versions[version.name].next
        versions[version.name] = route
    # Addresses that are no longer ready close their idle connections now.
    pools.keep_only(pool.address for route in versions.values() for pool in route.pools)
    mirror = config.mirror
    return RoutingTable(
        config=config,
        split=plan_split(config),
        versions=versions,
        mirror=versions[mirror.version] if mirror is not None else None,
        mirror_percent=mirror.percent if mirror is not None else 0.0,
        timeouts=config.timeouts,
        limits=config.limits,
    )
