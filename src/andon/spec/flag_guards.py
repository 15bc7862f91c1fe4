"""Andon's additions to a flag set (``flags.guards``, ``flags.experiments``): guards that
make a flag serve a fallback variant by itself, and A/B experiments on a flag's variants.

:class:`~andon.spec.flags.FlagSetSpec` holds them beside the flagd document; the server
stores them with each environment's flag set and hands the guards to the SDKs.
:func:`reference_problems` says where a guard or an experiment names a flag or a variant
that does not exist; the loader's cross-field checks and the server's flag API both call it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from andon.spec._base import SpecModel
from andon.spec._units import Duration, Measure, format_duration
from andon.spec.problems import did_you_mean

DEFAULT_WINDOW = timedelta(minutes=1)
DEFAULT_RECOVERY = timedelta(minutes=2)
DEFAULT_FAILURES = 3
DEFAULT_INTERVAL = timedelta(seconds=1)

_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$")


class GuardQuery(StrEnum):
    """The router metrics a guard may watch."""

    ERROR_RATE = "error_rate"
    LATENCY_P95 = "latency_p95"
    LATENCY_P99 = "latency_p99"
    REQUEST_RATE = "request_rate"


class MetricWatch(SpecModel):
    """A router metric of the environment and the bound it must keep."""

    provider: Literal["router"] = "router"
    """Where the metric comes from: the environment's router."""
    query: GuardQuery
    """``error_rate``, ``latency_p95``, ``latency_p99`` or ``request_rate``."""
    max: Measure | None = None
    """The highest acceptable value (``2%``, ``800ms``)."""
    min: Measure | None = None
    """The lowest acceptable value (for ``request_rate``: requests per second)."""

    @model_validator(mode="after")
    def _bounded(self) -> MetricWatch:
        if self.max is None and self.min is None:
            raise ValueError("a metric guard needs a bound; give max, min or both")
        return self


class DependencyCheck(SpecModel):
    """A dependency the SDK checks from inside the service's process."""

    http: str | None = None
    """A URL that answers any 2xx within 1 s while the dependency is healthy."""
    tcp: str | None = None
    """A ``host:port`` that accepts a connection within 1 s while the dependency is healthy."""

    @field_validator("http")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
        return url

    @field_validator("tcp")
    @classmethod
    def _host_port(cls, address: str | None) -> str | None:
        if address is None:
            return None
        found = _HOST_PORT.match(address)
        if found is None or not 0 < int(found.group(1)) < 65536:
            raise ValueError(f"expected host:port such as 127.0.0.1:6379, got {address!r}")
        return address

    @model_validator(mode="after")
    def _exactly_one(self) -> DependencyCheck:
        if (self.http is None) == (self.tcp is None):
            raise ValueError("a dependency guard checks exactly one of http (a URL) or tcp")
        return self


class GuardSpec(SpecModel):
    """One guard of a flag: a metric the server judges, or a dependency the SDK checks."""

    metric: MetricWatch | None = None
    """Judged by the server every few seconds over ``window``."""
    dependency: DependencyCheck | None = None
    """Checked by each SDK every ``interval``, with no round trip to the server."""
    window: Duration = DEFAULT_WINDOW
    """metric: the span of router counts judged (default 1m)."""
    recovery: Duration = DEFAULT_RECOVERY
    """metric: how long the metric must stay half-way back within its bound before the
    flag is restored (default 2m)."""
    failures: int = Field(default=DEFAULT_FAILURES, ge=1)
    """dependency: consecutive failed checks before the SDK serves the fallback (default 3)."""
    interval: Duration = DEFAULT_INTERVAL
    """dependency: time between two checks (default 1s)."""
    fallback: str = Field(min_length=1)
    """The variant the flag serves while the guard is tripped."""

    @model_validator(mode="after")
    def _one_kind(self) -> GuardSpec:
        if (self.metric is None) == (self.dependency is None):
            raise ValueError("a guard watches exactly one of metric or dependency")
        given = self.model_fields_set
        wrong = (
            {"failures", "interval"} & given
            if self.metric is not None
            else {"window", "recovery"} & given
        )
        if wrong:
            kind = "metric" if self.metric is not None else "dependency"
            raise ValueError(f"a {kind} guard takes no {' or '.join(sorted(wrong))}")
        return self

    def to_document(self) -> dict[str, Any]:
        """The guard as JSON values, as andon.yaml writes it, with its defaults filled in."""
        if self.metric is not None:
            watch = self.metric.model_dump(mode="json", exclude_none=True)
            return {
                "metric": watch,
                "window": format_duration(self.window),
                "recovery": format_duration(self.recovery),
                "fallback": self.fallback,
            }
        assert self.dependency is not None
        return {
            "dependency": self.dependency.model_dump(mode="json", exclude_none=True),
            "failures": self.failures,
            "interval": format_duration(self.interval),
            "fallback": self.fallback,
        }


class ExperimentSpec(SpecModel):
    """An A/B experiment: the flag's variants compared on a goal event."""

    goal: str = Field(min_length=1)
    """The event name the service tracks (``client.track("checkout", ...)``)."""
    control: str = Field(min_length=1)
    """The variant the others are compared with."""


def reference_problems(data: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Each ``(path, message)`` where ``guards`` or ``experiments`` of the flag-set data
    ``data`` name a flag or a variant the flags do not define. No side effects; values of
    the wrong shape are skipped (the models report them)."""
    flags = data.get("flags")
    flags = flags if isinstance(flags, Mapping) else {}
    sections: list[tuple[str, str]] = [("guards", "fallback"), ("experiments", "control")]
    for section, field in sections:
        entries = data.get(section)
        for key, value in (entries if isinstance(entries, Mapping) else {}).items():
            if key not in flags:
                noun = "guard" if section == "guards" else "experiment"
                yield (
                    (section, key),
                    f"a {noun} of unknown flag '{key}'{did_you_mean(key, flags)}; "
                    "flags are declared in flags.flags",
                )
                continue
            variants = flags[key].get("variants") if isinstance(flags[key], Mapping) else None
            if not isinstance(variants, Mapping):
                continue
            items = value if section == "guards" and isinstance(value, list) else [value]
            for index, item in enumerate(items):
                named = item.get(field) if isinstance(item, Mapping) else None
                if isinstance(named, str) and named not in variants:
                    path: tuple[str | int, ...] = (section, key, field)
                    if section == "guards":
                        path = (section, key, index, field)
                    yield (
                        path,
                        f"{field} '{named}' is not a variant of flag '{key}' "
                        f"({', '.join(variants)})",
                    )
