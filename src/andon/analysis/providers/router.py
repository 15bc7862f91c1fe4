"""The router's counts per version (requests by status class, latency histogram), from
the runtime that runs the environment's router (the agent's ``/traffic``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from andon.analysis.providers.protocol import Subject
from andon.analysis.readings import ROUTER, Observed
from andon.errors import TemporaryError
from andon.runtimes import Runtime


@dataclass
class RouterProvider:
    """Reads the router's snapshot of ``environment`` through ``runtime.traffic``."""

    runtime: Runtime
    environment: str
    timeout: float = 5.0
    """Seconds to wait for the runtime's answer."""

    @property
    def source(self) -> str:
        return ROUTER

    async def observe(self, subject: Subject) -> Observed:
        """The snapshot, whole: the run picks the versions it judges out of it."""
        try:
            snapshot = await asyncio.wait_for(self.runtime.traffic(self.environment), self.timeout)
        except TimeoutError as exc:
            raise TemporaryError(
                f"the router of environment {self.environment} did not tell its traffic "
                f"within {self.timeout:g} s; check that its agent runs."
            ) from exc
        return Observed(snapshot=snapshot)
