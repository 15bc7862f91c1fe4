"""The shop's andon.yaml made into a quick canary for the benchmark, and the releases the
trials deploy: each a commit of andon.yaml with the staging environment's values set for
its scenario, built by a pipeline before it is deployed.

Only text the example's andon.yaml is known to hold is replaced, and each replacement
must happen exactly once: if the example changes, the benchmark stops with a message
instead of measuring another configuration than the one bench/README.md describes.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from andon.testing import git
from andon.testing.stacks import Stack

SHOP_DIR = "examples/shop"
ENVIRONMENT = "staging"
CANARY_WEIGHT = 20
"""Percent of requests the canary takes while it is analysed."""
ANALYSIS_SECONDS = 60
"""How long the analysis step watches a canary that does not fail (a good one passes at
its end); a failing metric rolls back at once."""
INTERVAL = "1s"
MIN_SAMPLES = 100
ORDERS_MAX_DECREASE = "10%"
FINALIZE_DELAY = "1s"
STABLE_CHECKOUT_ERROR_RATE = 0.005
"""0.5% of checkouts fail on every release: with 20% of requests checkouts, 0.1% of all
requests, the stable version's background errors."""
STOCK = 1_000_000_000
"""Units of every product once the environment is up, so that no checkout runs out."""

STEPS = f"""  steps:
    - weight: {CANARY_WEIGHT}%
    - analysis: {{duration: {ANALYSIS_SECONDS}s}}
    - weight: 100%
"""
STAGING = """  staging:
    from: test
    auto_deploy: false
    values:
      shop_name: Andon Shop (staging)
"""


class ReleaseError(RuntimeError):
    """andon.yaml is not what the benchmark expects, or a release could not be built."""


def _replace_once(text: str, old: str, new: str, *, what: str) -> str:
    if text.count(old) != 1:
        raise ReleaseError(
            f"examples/shop/andon.yaml no longer holds {what} as the rollout benchmark "
            f"expects ({old.strip()[:60]!r}); update bench/rollout/releases.py"
        )
    return text.replace(old, new)


def staging_values(values: dict[str, Any], marker: str) -> str:
    """The staging environment's block with ``values``; ``marker`` (a comment) makes each
    release's andon.yaml, and so its commit, its own."""
    lines = [
        "  staging:",
        f"    # {marker}",
        "    from: test",
        "    auto_deploy: false",
        "    values:",
    ]
    lines += [f"      {key}: {_yaml_scalar(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return str(value)


def quick_canary(text: str) -> str:
    """The example's andon.yaml with a canary that takes seconds: weight, one analysis of
    every metric, all traffic; an analysis interval of 1 s; the stable version's
    background checkout errors; orders compared with a 10% tolerance (the example's 30%
    would accept exactly the drop the benchmark injects)."""
    text, count = re.subn(r"  steps:\n(    - .*\n)+", STEPS, text, count=1)
    if count != 1:
        raise ReleaseError("examples/shop/andon.yaml has no release.steps list to replace")
    text = _replace_once(
        text,
        "    interval: 5s\n    min_samples: 200\n",
        f"    interval: {INTERVAL}\n    min_samples: {MIN_SAMPLES}\n",
        what="release.analysis.interval and min_samples",
    )
    text = _replace_once(
        text,
        "        baseline: {max_decrease: 30%}\n",
        f"        baseline: {{max_decrease: {ORDERS_MAX_DECREASE}}}\n",
        what="the orders metric's baseline",
    )
    text = _replace_once(
        text, "  finalize_delay: 30s\n", f"  finalize_delay: {FINALIZE_DELAY}\n", what="finalize"
    )
    return _replace_once(
        text,
        STAGING,
        staging_values(base_values("the first release"), "the first release"),
        what="the staging environment",
    )


def base_values(name: str) -> dict[str, Any]:
    return {"shop_name": f"Andon Shop ({name})", "checkout_error_rate": STABLE_CHECKOUT_ERROR_RATE}


@dataclass(frozen=True)
class Release:
    """A commit of the shop whose pipeline is green: what a trial deploys."""

    commit: str
    values: dict[str, Any] = field(default_factory=dict)
    pipeline_seconds: float = 0.0


def commit_release(stack: Stack, label: str, faults: dict[str, Any]) -> Release:
    """Commit andon.yaml with staging's values set to the base ones plus ``faults``, run
    its pipeline to green; the release."""
    spec = stack.repo / SHOP_DIR / "andon.yaml"
    text = spec.read_text()
    start = text.index("  staging:\n")
    end = text.index("\n  prod:\n", start) + 1
    values = {**base_values(label), **faults}
    spec.write_text(text[:start] + staging_values(values, label) + text[end:])
    git(stack.repo, "commit", "-qam", label)
    commit = git(stack.repo, "rev-parse", "HEAD")
    started = time.perf_counter()
    result = stack.andon("pipeline", "run", "--wait")
    if result.returncode != 0:
        raise ReleaseError(
            f"the pipeline of {label} ({commit[:12]}) did not pass: "
            f"{(result.stderr or result.stdout).strip()[-1500:]}"
        )
    return Release(commit, values, time.perf_counter() - started)


def raise_stock(database: Path, units: int = STOCK) -> None:
    """Give every product ``units`` in stock, in the environment's own database (the
    shop's seed never lowers stock again, so later deploys keep it)."""
    with sqlite3.connect(database, timeout=30) as conn:
        conn.execute("UPDATE products SET stock = ?", (units,))
    with sqlite3.connect(database, timeout=30) as conn:
        low = conn.execute("SELECT MIN(stock) FROM products").fetchone()[0]
    if low is None or low < units:
        raise ReleaseError(f"could not raise the stock in {database}")


def lowest_stock(database: Path) -> int:
    with sqlite3.connect(database, timeout=30) as conn:
        return int(conn.execute("SELECT MIN(stock) FROM products").fetchone()[0])
