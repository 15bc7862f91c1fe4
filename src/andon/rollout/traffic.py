"""How the router splits one environment's traffic between the old and the new version:
weights, header routes and a mirror. Part of a rollout's state, and what
:class:`~andon.rollout.actions.SetTraffic` asks the router to apply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from andon.rollout._json import mapping


@dataclass(frozen=True)
class HeaderRoute:
    """Requests whose ``header`` equals ``value`` go to ``version``, whatever the weights."""

    header: str
    value: str
    version: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values."""
        return {"header": self.header, "value": self.value, "version": self.version}


@dataclass(frozen=True)
class Mirror:
    """A copy of ``percent`` % of requests goes to ``version``; its answers are discarded."""

    version: str
    percent: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values."""
        return {"version": self.version, "percent": self.percent}


@dataclass(frozen=True)
class Traffic:
    """The router's split: whole percents per version (summing to 100, in the router's
    order: old first), header routes tried in order, and at most one mirror.

    Empty weights mean no version takes unrouted requests (a first deploy before its
    smoke tests passed): the router answers them 503.
    """

    weights: dict[str, int] = field(default_factory=dict)
    header_routes: tuple[HeaderRoute, ...] = ()
    mirror: Mirror | None = None

    @classmethod
    def only(cls, version: str | None) -> Traffic:
        """Everything to ``version`` (nothing to anyone for None), no routes, no mirror."""
        return cls({} if version is None else {version: 100})

    @classmethod
    def split(cls, stable: str | None, canary: str, percent: float) -> Traffic:
        """``percent`` % to ``canary`` and the rest to ``stable`` (all of it to
        ``canary`` when there is no stable version)."""
        share = whole_percent(percent)
        if stable is None or share == 100:
            return cls({canary: 100})
        if share == 0:
            return cls({stable: 100})
        return cls({stable: 100 - share, canary: share})

    def weight_of(self, version: str) -> int:
        """The share of unrouted requests ``version`` gets."""
        return self.weights.get(version, 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; :meth:`from_dict` reads them back."""
        return {
            "weights": dict(self.weights),
            "header_routes": [route.to_dict() for route in self.header_routes],
            "mirror": None if self.mirror is None else self.mirror.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Traffic:
        """Traffic from :meth:`to_dict`'s values."""
        data = mapping(data)
        mirror = data.get("mirror")
        return cls(
            weights={str(k): int(v) for k, v in mapping(data.get("weights")).items()},
            header_routes=tuple(
                HeaderRoute(str(r["header"]), str(r["value"]), str(r["version"]))
                for r in data.get("header_routes", ())
            ),
            mirror=None
            if mirror is None
            else Mirror(str(mirror["version"]), float(mirror["percent"])),
        )


def whole_percent(percent: float) -> int:
    """``percent`` rounded to the router's whole percents, half up; a share above 0 (or
    below 100) stays above 0 (below 100), so that a 0.5% canary still gets requests."""
    share = math.floor(percent + 0.5)
    if 0 < percent < 1:
        share = 1
    if 99 < percent < 100:
        share = 99
    return max(0, min(100, share))
