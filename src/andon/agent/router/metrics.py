"""What the router saw, per version: responses by status class, a latency histogram with
Prometheus' default buckets, requests in flight, mirrored copies; and the requests it
refused before choosing a version (400, 431, header timeouts).

The proxy counts into :class:`RouterMetrics`; the agent reads :meth:`RouterMetrics.snapshot`
(plain data, for analysis; snapshots of several worker processes add up with
:func:`merge_snapshots`) or :func:`render_prometheus` (text exposition format).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the latency histogram: prometheus-client's defaults."""

CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


class VersionMetrics:
    """Counters of one version, updated on the request path (plain integer adds)."""

    __slots__ = (
        "bucket_counts",
        "cancelled",
        "in_flight",
        "latency_sum",
        "mirror_dropped",
        "mirror_responses",
        "responses",
    )

    def __init__(self) -> None:
        self.responses = [0] * 6
        """Responses by ``status // 100`` (index 0 unused)."""
        self.bucket_counts = [0] * (len(BUCKETS) + 1)
        """Observations per bucket, not cumulative; the last is +Inf."""
        self.latency_sum = 0.0
        self.in_flight = 0
        self.cancelled = 0
        """Requests whose client went away before the response was complete."""
        self.mirror_responses = [0] * 6
        """Responses to mirrored copies by class; index 0 counts copies that failed."""
        self.mirror_dropped = 0
        """Copies not sent or abandoned because mirroring was at its limits."""

    def observe(self, status: int, seconds: float) -> None:
        """Count a response with ``status``, ``seconds`` after its request's head arrived."""
        self.responses[status // 100] += 1
        self.bucket_counts[bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": {name: self.responses[index + 1] for index, name in enumerate(CLASSES)},
            "in_flight": self.in_flight,
            "cancelled": self.cancelled,
            "latency": {
                "buckets": list(BUCKETS),
                "counts": list(self.bucket_counts),
                "sum": self.latency_sum,
                "count": sum(self.bucket_counts),
            },
            "mirror": {
                **{name: self.mirror_responses[index + 1] for index, name in enumerate(CLASSES)},
                "failed": self.mirror_responses[0],
                "dropped": self.mirror_dropped,
            },
        }


class RouterMetrics:
    """The counters of one environment's listener."""

    def __init__(self, env: str) -> None:
        self.env = env
        self.versions: dict[str, VersionMetrics] = {}
        self.rejected: dict[str, int] = {
            "bad_request": 0,
            "head_too_large": 0,
            "no_version": 0,
            "timeout": 0,
        }
        """Requests refused before a version was chosen, by reason."""

    def version(self, name: str) -> VersionMetrics:
        """The counters of version ``name``, created on first use and kept across configs."""
        found = self.versions.get(name)
        if found is None:
            found = self.versions[name] = VersionMetrics()
        return found

    def snapshot(self) -> dict[str, Any]:
        """Plain, JSON-ready data: ``{"env", "versions": {name: {...}}, "rejected"}``."""
        return {
            "env": self.env,
            "versions": {name: found.snapshot() for name, found in sorted(self.versions.items())},
            "rejected": dict(self.rejected),
        }

    def render_prometheus(self) -> str:
        """The counters in Prometheus' text exposition format."""
        return render_prometheus(self.snapshot())


def merge_snapshots(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """The sum of several processes' snapshots of the same environment."""
    merged: dict[str, Any] = {"env": snapshots[0]["env"] if snapshots else "", "versions": {}}
    merged["rejected"] = {}
    for snapshot in snapshots:
        for reason, count in snapshot["rejected"].items():
            merged["rejected"][reason] = merged["rejected"].get(reason, 0) + count
        for name, version in snapshot["versions"].items():
            into = merged["versions"].get(name)
            merged["versions"][name] = version if into is None else _added(into, version)
    merged["versions"] = dict(sorted(merged["versions"].items()))
    return merged


def _added(left: Any, right: Any) -> Any:
    if isinstance(left, dict):
        return {key: _added(value, right[key]) for key, value in left.items()}
    if isinstance(left, list):
        if left and isinstance(left[0], float) and left == right:  # bucket bounds
            return list(left)
        return [a + b for a, b in zip(left, right, strict=True)]
    return left + right


_FAMILIES = (
    ("andon_router_requests_total", "counter", "Responses sent to clients, by status class."),
    (
        "andon_router_request_duration_seconds",
        "histogram",
        "From a request's head to the end of its response.",
    ),
    ("andon_router_requests_in_flight", "gauge", "Requests being answered."),
    ("andon_router_cancelled_total", "counter", "Requests whose client left before the answer."),
    ("andon_router_mirror_requests_total", "counter", "Mirrored copies, by outcome."),
    ("andon_router_rejected_total", "counter", "Requests refused before a version was chosen."),
)


def render_prometheus(*snapshots: dict[str, Any]) -> str:
    """Snapshots (one per environment; each one process's, or merged) in Prometheus' text
    exposition format, each family's samples together under one HELP and TYPE."""
    samples: dict[str, list[str]] = {name: [] for name, _, _ in _FAMILIES}
    for snapshot in snapshots:
        _samples(snapshot, samples)
    lines = []
    for name, kind, text in _FAMILIES:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *samples[name]]
    return "\n".join(lines) + "\n"


def _samples(snapshot: dict[str, Any], into: dict[str, list[str]]) -> None:
    env = _escape(snapshot["env"])
    for name, found in snapshot["versions"].items():
        labels = f'env="{env}",version="{_escape(name)}"'
        for status_class, count in found["requests"].items():
            into["andon_router_requests_total"].append(
                f'andon_router_requests_total{{{labels},class="{status_class}"}} {count}'
            )
        latency = found["latency"]
        histogram = into["andon_router_request_duration_seconds"]
        running = 0
        for bound, count in zip([*latency["buckets"], "+Inf"], latency["counts"], strict=True):
            running += count
            histogram.append(
                f'andon_router_request_duration_seconds_bucket{{{labels},le="{bound}"}} {running}'
            )
        histogram.append(f"andon_router_request_duration_seconds_sum{{{labels}}} {latency['sum']}")
        histogram.append(f"andon_router_request_duration_seconds_count{{{labels}}} {running}")
        into["andon_router_requests_in_flight"].append(
            f"andon_router_requests_in_flight{{{labels}}} {found['in_flight']}"
        )
        into["andon_router_cancelled_total"].append(
            f"andon_router_cancelled_total{{{labels}}} {found['cancelled']}"
        )
        for outcome, count in found["mirror"].items():
            into["andon_router_mirror_requests_total"].append(
                f'andon_router_mirror_requests_total{{{labels},class="{outcome}"}} {count}'
            )
    for reason, count in snapshot["rejected"].items():
        into["andon_router_rejected_total"].append(
            f'andon_router_rejected_total{{env="{env}",reason="{reason}"}} {count}'
        )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
