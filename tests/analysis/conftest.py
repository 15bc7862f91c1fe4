"""Samples for the analysis tests: a builder that fills in the router's buckets, so that a
test names only the counts it is about."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import pytest

from andon.analysis import LatencyHistogram, VersionSample

BOUNDS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""The router's latency buckets (prometheus-client's defaults)."""


def histogram(by_bound: Mapping[float, int]) -> LatencyHistogram:
    """Counts keyed by a bucket's upper bound (``math.inf`` for the last)."""
    keys = [*BOUNDS, math.inf]
    unknown = set(by_bound) - set(keys)
    assert not unknown, f"not bucket bounds: {sorted(unknown)}"
    return LatencyHistogram(BOUNDS, tuple(by_bound.get(key, 0) for key in keys))


def make_sample(
    requests: int,
    errors: int = 0,
    *,
    version: str = "canary",
    latency: Mapping[float, int] | None = None,
    counters: Mapping[str, float] | None = None,
    at: float = 60.0,
    since: float | None = 0.0,
) -> VersionSample:
    """A window of ``version``: every request took 50 ms unless ``latency`` says otherwise."""
    return VersionSample(
        version=version,
        at=at,
        since=since,
        requests=requests,
        errors=errors,
        latency=histogram(latency if latency is not None else {0.05: requests}),
        counters=dict(counters or {}),
    )


@pytest.fixture
def sample() -> Callable[..., VersionSample]:
    """The builder :func:`make_sample`."""
    return make_sample


@pytest.fixture
def buckets() -> Callable[[Mapping[float, int]], LatencyHistogram]:
    """The builder :func:`histogram`."""
    return histogram
