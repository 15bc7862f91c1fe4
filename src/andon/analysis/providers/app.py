"""Business counters out of each version's instances: ``GET /metrics`` of every serving
instance, read with :func:`~andon.analysis.read_counters` and summed per version."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass

import httpx

from andon.analysis import read_counters
from andon.analysis.providers.protocol import Subject
from andon.analysis.readings import APP, Observed
from andon.errors import TemporaryError
from andon.runtimes import InstanceStatus, Runtime


@dataclass
class AppProvider:
    """Scrapes ``http://host:port/metrics`` of each serving instance of the subject's
    versions and sums ``counters`` per version.

    One instance that cannot be read makes the whole source unreachable for the look: a
    version's sum without it would read as a counter reset, or as a fall in orders.
    """

    runtime: Runtime
    environment: str
    counters: Collection[str]
    """The counters to read, e.g. ``{"shop_orders_total"}``."""
    client: httpx.AsyncClient | None = None
    """A shared client; without one, each observation opens its own."""
    host: str = "127.0.0.1"
    """Where the runtime's instances listen (the local runtime's host)."""
    path: str = "/metrics"
    timeout: float = 2.0
    """Seconds to wait for the runtime and for each instance."""

    @property
    def source(self) -> str:
        return APP

    async def observe(self, subject: Subject) -> Observed:
        """Each version's summed counters; a version without a serving instance is left
        out."""
        try:
            instances = await asyncio.wait_for(
                self.runtime.instances(self.environment), self.timeout
            )
        except TimeoutError as exc:
            raise TemporaryError(
                f"the runtime did not list the instances of {self.environment} within "
                f"{self.timeout:g} s; check that its agent runs."
            ) from exc
        serving = [i for i in instances if i.version in subject.versions and i.serving]
        if self.client is not None:
            texts = await self._scrape_all(self.client, serving)
        else:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                texts = await self._scrape_all(client, serving)
        found: dict[str, dict[str, float]] = {}
        for instance, text in zip(serving, texts, strict=True):
            summed = found.setdefault(instance.version, {})
            for name, value in read_counters(text, self.counters).items():
                summed[name] = summed.get(name, 0.0) + value
        return Observed(counters=found)

    async def _scrape_all(
        self, client: httpx.AsyncClient, instances: list[InstanceStatus]
    ) -> list[str]:
        return list(await asyncio.gather(*(self._scrape(client, i) for i in instances)))

    async def _scrape(self, client: httpx.AsyncClient, instance: InstanceStatus) -> str:
        url = f"http://{self.host}:{instance.port}{self.path}"
        what = f"instance {instance.id} of {instance.version}"
        try:
            response = await client.get(url, timeout=self.timeout)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise TemporaryError(f"cannot read the counters of {what} at {url}: {reason}.") from exc
        if response.status_code != 200:
            raise TemporaryError(
                f"{what} answered {response.status_code} at {url}; its counters are unknown "
                "for this look."
            )
        return response.text
