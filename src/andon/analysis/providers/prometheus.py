"""A metric from a Prometheus server: an instant query over its HTTP API
(``GET {url}/api/v1/query``), split per version by the series' ``version`` label.

A counter (``shop_orders_total``, or written ``rate(shop_orders_total[1m])``) is asked as
``sum by (version) (shop_orders_total)``: the run needs its cumulative value, to take
windows of it and judge it per request. Any other expression is asked as written, and the
canary's value is held to the metric's threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from andon.analysis.providers.protocol import Subject
from andon.analysis.readings import Observed, counter_of
from andon.errors import ConfigurationError, TemporaryError
from andon.spec import MetricSpec

URL_VARIABLE = "ANDON_PROMETHEUS_URL"
"""The environment variable naming the server when a metric gives no ``url``."""


@dataclass
class PrometheusProvider:
    """Asks the Prometheus server at ``url`` for ``expression``, for metric ``metric``."""

    metric: str
    expression: str
    url: str | None
    """The server's base URL, e.g. ``http://prometheus:9090``; None when none was set."""
    per_version: bool = False
    """Whether the answer must be split by version (a counter, judged per request)."""
    client: httpx.AsyncClient | None = None
    timeout: float = 5.0

    @classmethod
    def for_metric(
        cls, spec: MetricSpec, url: str | None, client: httpx.AsyncClient | None = None
    ) -> PrometheusProvider:
        """The provider of a ``prometheus`` metric of andon.yaml (``url``: its own, or the
        server of ``ANDON_PROMETHEUS_URL``)."""
        counter = counter_of(spec)
        if counter is not None:
            return cls(spec.name, f"sum by (version) ({counter})", url, True, client)
        return cls(spec.name, spec.query, url, False, client)

    @property
    def source(self) -> str:
        return f"prometheus:{self.metric}"

    async def observe(self, subject: Subject) -> Observed:
        """The values by version (``""`` for a series without a version label)."""
        if not self.url:
            raise ConfigurationError(
                f"metric '{self.metric}' has no Prometheus server to ask; give it a url in "
                f"andon.yaml or set {URL_VARIABLE}."
            )
        endpoint = f"{self.url.rstrip('/')}/api/v1/query"
        try:
            if self.client is not None:
                response = await self._get(self.client, endpoint)
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await self._get(client, endpoint)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise TemporaryError(f"Prometheus at {self.url} cannot be reached: {reason}.") from exc
        values = _values(self.expression, response)
        if self.per_version and set(values) - {""} != set(values):
            raise TemporaryError(
                f"Prometheus' answer to {self.expression} has no version label, so the "
                "canary cannot be told from the stable version; label the instances' "
                "series with their version."
            )
        return Observed(queried={self.metric: values})

    async def _get(self, client: httpx.AsyncClient, endpoint: str) -> httpx.Response:
        return await client.get(endpoint, params={"query": self.expression}, timeout=self.timeout)


def _values(expression: str, response: httpx.Response) -> dict[str, float]:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, Mapping) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, Mapping) else None
        said = f": {error}" if error else ""
        raise TemporaryError(
            f"Prometheus refused the query {expression} with status {response.status_code}{said}."
        )
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        scalar = float(result[1])
        return {"": scalar} if math.isfinite(scalar) else {}
    if kind != "vector" or not isinstance(result, list):
        raise TemporaryError(
            f"Prometheus answered the query {expression} with a {kind}; Andon needs an "
            "instant vector or a scalar."
        )
    values: dict[str, float] = {}
    try:
        for series in result:
            version = str((series.get("metric") or {}).get("version", ""))
            value = float(series["value"][1])
            # A NaN (a ratio over no requests) says nothing; it must not poison the sum.
            if math.isfinite(value):
                values[version] = values.get(version, 0.0) + value
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise TemporaryError(
            f"Prometheus answered the query {expression} with series Andon cannot read."
        ) from exc
    return values
