"""Run a real shop in-process, for tests.

:func:`run_shop` creates a database in a given directory, migrates and seeds
it (unless told not to), and serves the app on an ephemeral port on a
background thread. Everything is torn down when the block exits: the server
stops, its threads are joined and no sockets or connections are left open.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shop import metrics, migrate, seed
from shop.app import ShopApp
from shop.client import Client
from shop.config import Config, FaultConfig
from shop.faults import FaultInjector
from shop.server import running_in_thread


@dataclass(frozen=True)
class RunningShop:
    url: str
    app: ShopApp
    client: Client
    database: Path

    def metrics(self) -> metrics.Samples:
        """Scrape and parse GET /metrics."""
        reply = self.client.get("/metrics")
        if reply.status != 200:
            raise AssertionError(f"GET /metrics answered {reply.status}")
        return metrics.parse(reply.text)


@contextmanager
def run_shop(
    directory: Path,
    *,
    migrated: bool = True,
    seeded: bool = True,
    faults: FaultConfig | None = None,
    rng: random.Random | None = None,
    version: str = "test",
) -> Iterator[RunningShop]:
    """Serve a shop whose database is ``directory / "shop.db"``; yields a RunningShop."""
    database = directory / "shop.db"
    fault_config = faults or FaultConfig()
    config = Config(name="Test Shop", database_path=database, faults=fault_config)
    if migrated:
        migrate.apply(database, migrate.discover())
    if seeded:
        seed.seed(database)
    app = ShopApp(config, version=version, faults=FaultInjector(fault_config, rng=rng))
    with running_in_thread(app) as url:
        yield RunningShop(url=url, app=app, client=Client(url), database=database)
