"""Shared fixtures for the shop's tests.

The tests are collected from the repository root with ``--import-mode=importlib``,
which does not put ``examples/shop`` on ``sys.path``; this file does, so the
tests import the ``shop`` package exactly as ``python -m shop`` sees it.
"""

from __future__ import annotations

import itertools
import os
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

SHOP_ROOT = Path(__file__).resolve().parents[1]
if str(SHOP_ROOT) not in sys.path:
    sys.path.insert(0, str(SHOP_ROOT))

from shop.testing import RunningShop, run_shop  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    """Register the marks the shop's tests use, also when they run on their own."""
    config.addinivalue_line("markers", "e2e: end-to-end tests with real processes and sockets")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep this shard's share of the tests when the pipeline splits the job
    (``parallel: N`` sets ANDON_SHARD_INDEX and ANDON_SHARD_TOTAL)."""
    total = int(os.environ.get("ANDON_SHARD_TOTAL", "1"))
    if total <= 1:
        return
    index = int(os.environ.get("ANDON_SHARD_INDEX", "0"))
    # A stable hash of the test's id, so that each test lands in one shard on every run.
    mine = [item for item in items if zlib.crc32(item.nodeid.encode()) % total == index]
    config.hook.pytest_deselected(items=[item for item in items if item not in mine])
    items[:] = mine


@pytest.fixture
def shop_factory(tmp_path: Path) -> Iterator[Callable[..., RunningShop]]:
    """Start any number of shops (each with its own database); all stop at teardown."""
    numbers = itertools.count()
    with ExitStack() as stack:

        def start(**options: Any) -> RunningShop:
            directory = tmp_path / f"shop-{next(numbers)}"
            directory.mkdir()
            return stack.enter_context(run_shop(directory, **options))

        yield start


@pytest.fixture
def live_shop(shop_factory: Callable[..., RunningShop]) -> RunningShop:
    """A migrated, seeded shop with no faults."""
    return shop_factory()
