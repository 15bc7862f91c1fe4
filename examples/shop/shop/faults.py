"""Fault injection: deliberate defects for the platform to detect.

The platform deploys a release with one of these knobs turned on and expects
its canary analysis (the "immune system") to notice and roll back:

- ``checkout_error_rate``: a fraction of checkouts answer 500. Visible in
  ``shop_http_requests_total{status="500"}`` and
  ``shop_checkout_failures_total``.
- ``added_latency_ms``: every request (except /healthz and /metrics, so the
  shop still looks alive) is slower. Visible in
  ``shop_http_request_duration_seconds``.
- ``drop_orders``: checkout answers 201 but nothing is stored. No status code
  or test reveals it; only the business metric ``shop_orders_total`` falling
  behind successful checkouts does.
- ``order_drop_rate``: the same for a fraction of checkouts, drawn per
  checkout: orders per checkout fall by that share while every checkout still
  answers 201. A single smoke-test order catches it only by chance; the
  business metric compared with the stable version does.

The random source and the sleep function are injectable so tests are exact.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from shop.config import FaultConfig

# Endpoints the platform itself relies on stay fast under added latency:
# slowing them would make the fault look like an outage instead of a
# degradation, and the canary analysis could not read its metrics.
LATENCY_EXEMPT_PATHS = frozenset({"/healthz", "/metrics"})


class FaultInjector:
    def __init__(
        self,
        faults: FaultConfig,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = faults
        self._rng = rng or random.Random()
        self._sleep = sleep

    def delay(self, path: str) -> None:
        """Sleep for the configured latency unless `path` is exempt."""
        if self.config.added_latency_ms and path not in LATENCY_EXEMPT_PATHS:
            self._sleep(self.config.added_latency_ms / 1000)

    def checkout_should_fail(self) -> bool:
        """Decide, per checkout, whether to fail it on purpose."""
        # random() is in [0, 1), so a rate of 1.0 always fails and 0.0 never does.
        return self._rng.random() < self.config.checkout_error_rate

    @property
    def drop_orders(self) -> bool:
        return self.config.drop_orders

    def order_should_drop(self) -> bool:
        """Decide, per successful checkout, whether to answer 201 and store nothing:
        always under ``drop_orders``, else with probability ``order_drop_rate``."""
        if self.config.drop_orders:
            return True
        # Drawn only when the knob is on, so that turning it on changes no other draw.
        return bool(self.config.order_drop_rate) and (
            self._rng.random() < self.config.order_drop_rate
        )

    def describe(self) -> str:
        """A one-line summary for the startup log, or "" when nothing is injected."""
        active = self.config.active()
        return ", ".join(f"{name}={value}" for name, value in active.items())
