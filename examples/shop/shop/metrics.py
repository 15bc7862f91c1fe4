"""Prometheus metrics in the text exposition format 0.0.4, by hand.

The format is small enough to write correctly without a client library:

    # HELP <name> <help text, with \\ and newline escaped>
    # TYPE <name> counter|gauge|histogram
    <name>{label="value",...} <number>

Label values escape backslash, double quote and newline. A histogram family
exposes cumulative ``_bucket`` series (``le`` = upper bound, ending at
``+Inf``), plus ``_sum`` and ``_count``.

Every metric guards its values with its own lock: requests update metrics from
many threads at once, and ``render`` must see a consistent snapshot.

:func:`parse` reads the format back; the smoke test uses it to check that an
order shows up in ``shop_orders_total``.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LabelSet = tuple[tuple[str, str], ...]

# Buckets for request durations, in seconds: fine-grained where a healthy shop
# answers (milliseconds), coarse out to the multi-second tail.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def format_value(value: float) -> str:
    """Numbers as Prometheus reads them: whole numbers without ".0", +Inf, NaN."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_labels(labels: LabelSet) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{name}="{escape_label_value(value)}"' for name, value in labels)
    return "{" + inner + "}"


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, str]) -> LabelSet:
        if set(labels) != set(self.labelnames):
            raise ValueError(
                f"{self.name} takes labels {self.labelnames}, got {tuple(sorted(labels))}"
            )
        return tuple((name, str(labels[name])) for name in self.labelnames)

    def render(self) -> list[str]:
        header = [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        return header + self._samples()

    def _samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A value that only goes up (until the process restarts)."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelSet, float] = {}
        if not self.labelnames:
            # An unlabelled counter exists from the start, so a rate over it
            # is defined even before the first event.
            self._values[()] = 0.0

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("counters cannot decrease")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        key = self._key(labels)
        with self._lock:
            return self._values.get(key, 0.0)

    def _samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{format_labels(k)} {format_value(v)}" for k, v in items]


class Gauge(_Metric):
    """A value that goes up and down, such as requests in flight."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelSet, float] = {}
        if not self.labelnames:
            self._values[()] = 0.0

    def add(self, amount: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def value(self, **labels: str) -> float:
        key = self._key(labels)
        with self._lock:
            return self._values.get(key, 0.0)

    def _samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{format_labels(k)} {format_value(v)}" for k, v in items]


class Histogram(_Metric):
    """Observations counted into fixed buckets, plus their sum and count."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str],
        buckets: Iterable[float],
    ) -> None:
        super().__init__(name, help_text, labelnames)
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        self.buckets = (*bounds, math.inf)
        # Per label set: [count per bucket (not cumulative)], sum, count.
        self._counts: dict[LabelSet, list[int]] = {}
        self._sums: dict[LabelSet, float] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        index = next(i for i, bound in enumerate(self.buckets) if value <= bound)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * len(self.buckets))
            counts[index] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def _samples(self) -> list[str]:
        with self._lock:
            snapshot = sorted((k, list(c), self._sums[k]) for k, c in self._counts.items())
        lines: list[str] = []
        for key, counts, total in snapshot:
            cumulative = 0
            for bound, count in zip(self.buckets, counts, strict=True):
                cumulative += count
                labels = format_labels((*key, ("le", format_value(bound))))
                lines.append(f"{self.name}_bucket{labels} {cumulative}")
            lines.append(f"{self.name}_sum{format_labels(key)} {format_value(total)}")
            lines.append(f"{self.name}_count{format_labels(key)} {cumulative}")
        return lines


M = TypeVar("M", bound=_Metric)


class Registry:
    """The metrics of one process, rendered together for GET /metrics."""

    def __init__(self) -> None:
        self._metrics: list[_Metric] = []

    def register(self, metric: M) -> M:
        self._metrics.append(metric)
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics:
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


class ShopMetrics:
    """The shop's own metrics. Names are part of the platform's contract."""

    def __init__(self, version: str) -> None:
        self.registry = Registry()
        register = self.registry.register
        self.requests = register(
            Counter(
                "shop_http_requests_total",
                "HTTP requests answered, by method, route template and status code.",
                ("method", "route", "status"),
            )
        )
        self.duration = register(
            Histogram(
                "shop_http_request_duration_seconds",
                "Time to answer an HTTP request, by route template.",
                ("route",),
                DURATION_BUCKETS,
            )
        )
        self.in_flight = register(
            Gauge("shop_http_requests_in_flight", "HTTP requests being handled right now.")
        )
        self.orders = register(Counter("shop_orders_total", "Orders stored by checkout."))
        self.checkout_failures = register(
            Counter(
                "shop_checkout_failures_total",
                "POST /checkout requests that did not store an order (any 4xx or 5xx answer).",
            )
        )
        build_info = register(
            Gauge(
                "shop_build_info",
                "Always 1; the version label names the running release.",
                ("version",),
            )
        )
        build_info.set(1, version=version)

    def render(self) -> str:
        return self.registry.render()


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'\s*(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)')
_UNESCAPE = re.compile(r"\\(.)")


class Samples:
    """Parsed samples, looked up by metric name and labels."""

    def __init__(self, values: Mapping[tuple[str, LabelSet], float]) -> None:
        self.values = dict(values)

    def get(self, name: str, **labels: str) -> float | None:
        return self.values.get((name, tuple(sorted(labels.items()))))

    def total(self, name: str, **labels: str) -> float:
        """Sum over all series of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.values.items() if n == name and wanted <= set(ls))


def parse(text: str) -> Samples:
    """Parse the text exposition format (comments are skipped, timestamps ignored)."""
    values: dict[tuple[str, LabelSet], float] = {}
    # Lines end with "\n" only; str.splitlines() would also split inside label
    # values at characters such as U+0085 or U+2028.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ValueError(f"line {number}: not a sample: {line!r}")
        labels = _parse_labels(match["labels"] or "", number)
        values[(match["name"], labels)] = float(match["value"])
    return Samples(values)


def _parse_labels(text: str, number: int) -> LabelSet:
    labels: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _LABEL.match(text, position)
        if match is None:
            raise ValueError(f"line {number}: bad labels: {text!r}")
        value = _UNESCAPE.sub(lambda m: "\n" if m[1] == "n" else m[1], match["value"])
        labels.append((match["name"], value))
        position = match.end()
    return tuple(sorted(labels))
