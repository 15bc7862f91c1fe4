"""What is being judged: a metric's kind and how to read it off a :class:`VersionSample`.

The judges hold a :class:`Metric`; :meth:`Metric.from_query` reads the ``query`` of a
metric in ``release.analysis.metrics`` of andon.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from andon.errors import UsageError

_LATENCY = re.compile(r"^latency_p([0-9]{1,2}(?:\.[0-9]+)?)$")
_COUNTER = re.compile(
    r"^(?:(?:rate|increase|irate)\(\s*)?([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\[[0-9a-z]+\]\s*\))?$"
)


class MetricKind(StrEnum):
    """The kinds of metric the immune system can judge."""

    ERROR_RATE = "error_rate"
    """Share of requests answered with a 5xx status."""
    LATENCY = "latency"
    """A quantile of the latency histogram."""
    REQUEST_RATE = "request_rate"
    """Requests per second reaching the version."""
    BUSINESS = "business"
    """A business counter (orders, sign-ups) per request."""


@dataclass(frozen=True)
class Metric:
    """One metric: its name in andon.yaml and what it measures."""

    name: str
    kind: MetricKind
    quantile: float | None = None
    """For latency: which quantile, e.g. 0.95."""
    counter: str | None = None
    """For business metrics: the counter's name, e.g. ``shop_orders_total``."""

    def __post_init__(self) -> None:
        if self.kind is MetricKind.LATENCY and not (
            self.quantile is not None and 0 < self.quantile < 1
        ):
            raise ValueError(f"latency metric {self.name!r} needs a quantile between 0 and 1")
        if self.kind is MetricKind.BUSINESS and not self.counter:
            raise ValueError(f"business metric {self.name!r} needs a counter name")

    @classmethod
    def from_query(cls, name: str, query: str) -> Metric:
        """The metric that a ``query`` of andon.yaml names: ``error_rate``,
        ``latency_p95``, ``request_rate``, or a counter (``shop_orders_total``, also written
        ``rate(shop_orders_total[1m])``), which is judged per request."""
        text = query.strip()
        if text == "error_rate":
            return cls(name, MetricKind.ERROR_RATE)
        if text == "request_rate":
            return cls(name, MetricKind.REQUEST_RATE)
        latency = _LATENCY.match(text)
        if latency is not None:
            # Rounded, so that p99.9 reads back as 0.999 and not 0.9990000000000001.
            quantile = round(float(latency.group(1)) / 100.0, 12)
            return cls(name, MetricKind.LATENCY, quantile=quantile)
        counter = _COUNTER.match(text)
        if counter is not None:
            return cls(name, MetricKind.BUSINESS, counter=counter.group(1))
        raise UsageError(
            f"metric '{name}': cannot judge the query {query!r}; name a router metric "
            "(error_rate, latency_p50, latency_p95, latency_p99, request_rate) or a counter "
            "that the instances expose, such as shop_orders_total"
        )

    @property
    def label(self) -> str:
        """How a sentence names the metric: ``error rate``, ``p95 latency``,
        ``orders per request``."""
        if self.kind is MetricKind.ERROR_RATE:
            return "error rate"
        if self.kind is MetricKind.REQUEST_RATE:
            return "request rate"
        if self.kind is MetricKind.LATENCY:
            return f"p{(self.quantile or 0) * 100:g} latency"
        return f"{self.name} per request"


LATENCY_SLACK_S = 0.025
"""A canary's latency within 25 ms of the stable version's is never judged worse, however
large the ratio: below that, a busy host's noise (scheduling, a cold cache, a new
process) is larger than any slowdown a customer notices, and ``max_increase: 50%`` of a
10 ms p95 would otherwise roll back a release that is 6 ms slower."""


def latency_limit(stable: float, max_increase: float | None) -> float:
    """The latency (seconds) above which a canary's quantile is worse than the stable
    version's ``stable``: ``max_increase`` more, and at least :data:`LATENCY_SLACK_S`."""
    return max((1.0 + (max_increase or 0.0)) * stable, stable + LATENCY_SLACK_S)
